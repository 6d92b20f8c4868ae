"""The web editor (``python app.py``): paint new classes on a label map, see the edit.

A Gradio page over the Python API's editors (``semedit.load``), loaded once per server. Every
picture crosses the browser as PNG; nothing is fetched from elsewhere (system fonts, analytics
off, no share link). Elements a test can find by ``elem_id``: image, segmap, instances, labels (the
canvas), class, run, result, message, model (when two systems are loaded); and grow, live, seed,
references, compare, result_other, stages, downloads.
"""
import logging
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from semedit.data.siedob_constants import CLASS_NAMES
from semedit.engine.editor import Editor, stage_images
from semedit.data.segmentation_classes import dataset_for_label_nc
from semedit.engine.segmenter import Segmenter
from semedit.engine.painting import (edit_from_strokes, instances_after_edit, repaint_only_colour,
                                     show)
from semedit.util.errors import UserError
from semedit.util.image_io import (check_same_size, read_image, read_instance, read_label, save_instance_map,
                                   save_label_map)
from semedit.util.label_classes import palette

log = logging.getLogger('semedit.web')

UPLOADS = ('image', 'segmap', 'instances')  # the upload boxes, in WebEditor.open's order
REPAINT_ONLY_NAME = 'repaint only (keep the classes)'
SPM, SIEDOB = 'SPM-PGAN', 'SIEDOB'
#: what the page says for an error that is not the user's
INTERNAL = 'The edit failed inside the model (the server log has the details); the page keeps working.'


def hex_colour(rgb):
    return '#{:02x}{:02x}{:02x}'.format(*rgb)


def by_file_name(error, *uploads):
    """An error's sentence with each upload named by its file name, as the user knows it, not by the
    server's folder it was copied to."""
    text = str(error)
    for path in uploads:
        if path is not None:
            text = text.replace(str(path), os.path.basename(str(path)))
    return text


def is_siedob(editor):
    return hasattr(editor.model, 'use_references')


class Session:
    """What one browser tab has opened: the photo, its label map (ids) and instance map, the canvas
    shown. Kept in the tab's gr.State, so two tabs never share an edit."""

    def __init__(self, image, labels, instances, shown):
        self.image, self.labels, self.instances, self.shown = image, labels, instances, shown
        self.edits = 0  # numbered in the page's note, so that each edit's note is new


class WebEditor:
    """The page's behaviour, one method per event, each returning what the page shows: errors are
    the ``message`` element's one sentence, never a traceback."""

    def __init__(self, editors, examples=(), notes=(), work_dir=None, segmenter=None, device='auto'):
        self.editors = dict(editors)  # {'SPM-PGAN': Editor, 'SIEDOB': Editor}
        self.examples = list(examples)
        self.notes = list(notes)
        self.segmenter, self.device = segmenter, device  # app.py's --segmenter (None: the dataset's default)
        self.segmenters = {}                              # dataset -> Segmenter, loaded at the first use
        self.work_dir = work_dir or tempfile.mkdtemp(prefix='semedit-web-')
        os.makedirs(self.work_dir, exist_ok=True)

    # ---- classes and the brush -------------------------------------------------------------------
    def editor(self, system):
        return self.editors.get(system) or next(iter(self.editors.values()))

    def class_choices(self, system):
        editor = self.editor(system)
        return [name for _, name, _ in editor.classes] + [REPAINT_ONLY_NAME]

    def brush_colour(self, system, name):
        editor = self.editor(system)
        for _, n, rgb in editor.classes:
            if n == name:
                return hex_colour(rgb)
        return hex_colour(repaint_only_colour(editor.label_nc))

    def legend(self, system, labels=None):
        """HTML swatches of the classes (those in the label map first, when one is open)."""
        editor = self.editor(system)
        present = set(np.unique(labels).tolist()) if labels is not None else set()
        rows = sorted(editor.classes, key=lambda c: (c[0] not in present, c[0]))
        items = ''.join(f'<span class="swatch"><i style="background:{hex_colour(rgb)}"></i>{name}</span>'
                        for _, name, rgb in rows[:40 if present else 24])
        return f'<div class="legend">{items}</div>'

    def references(self, system):
        """[(crop path, caption)] of the references the SIEDOB editor carries (its folder's references/)."""
        editor = self.editors.get(system)
        if editor is None or not is_siedob(editor):
            return []
        out = []
        for name in CLASS_NAMES.values():
            folder = os.path.join(editor.path, 'references', name, 'images')
            if os.path.isdir(folder):
                out += [(os.path.join(folder, f), f'{name} {os.path.splitext(f)[0]}')
                        for f in sorted(os.listdir(folder))]
        return out

    # ---- opening files -----------------------------------------------------------------------------
    def open(self, system, image, segmap, instances):
        """(session or None, canvas value, message, legend) for the uploaded files."""
        editor = self.editor(system)
        if image is None or segmap is None:
            return None, None, 'Open a photo (image) and its label map (segmap) to start painting.', self.legend(system)
        try:
            photo, labels, inst = self._read(editor, image, segmap, instances)
        except UserError as e:
            return None, None, f'⚠ {by_file_name(e, image, segmap, instances)}', self.legend(system)
        shown = show(labels, editor.label_nc)
        h, w = labels.shape
        note = f'Opened a {w}×{h} photo' + (f' (painted on a {shown.shape[1]}×{shown.shape[0]} canvas)'
                                          if shown.shape[:2] != (h, w) else '') + '. Pick a class and paint.'
        session = Session(photo, labels, inst, shown)
        return session, {'background': shown, 'layers': [], 'composite': shown}, note, self.legend(system, labels)

    @staticmethod
    def _read(editor, image, segmap, instances):
        """The photo, the label ids, the instance ids (or None), checked to be of one size."""
        photo = read_image(image, what='image')
        labels = read_label(segmap, editor.label_nc, what='segmap')
        inst = read_instance(instances, editor.instance_kind, what='instances') if instances is not None else None
        named = [('image', photo), ('segmap', labels)] + ([('instances', inst)] if inst is not None else [])
        check_same_size(named)
        return photo, labels, inst

    def segment(self, system, image, tab='tab'):
        """(label map PNG, instance map PNG or None) of the photo from the segmentation model, written
        in the tab's folder for the upload boxes (a palette PNG: the classes' colours, ids as indices)."""
        if image is None:
            raise UserError('open a photo (image) first: the label map is made from it')
        editor = self.editor(system)
        dataset = dataset_for_label_nc(editor.label_nc)
        if dataset not in self.segmenters:
            self.segmenters[dataset] = Segmenter.load(self.segmenter, dataset, self.device)
        try:
            labels, instances = self.segmenters[dataset](image, what='image')
        except UserError as e:
            raise UserError(by_file_name(e, image)) from None
        folder = self._new_folder(tab)
        stem = os.path.splitext(os.path.basename(str(image)))[0]
        paths = [os.path.join(folder, f'{stem}_labels.png'), None]
        save_label_map(labels, paths[0], palette(editor.label_nc))
        if instances is not None and SIEDOB in self.editors:  # the instance box is SIEDOB's
            paths[1] = os.path.join(folder, f'{stem}_instances.png')
            save_instance_map(instances, paths[1])
        return paths

    # ---- editing -----------------------------------------------------------------------------------
    def run(self, session, canvas, system, grow, seed, reference, both, tab='tab'):
        """(result, before/after pair, other system's result, stage images, downloads, message);
        ``tab``: the browser tab's id, whose folder holds the downloads."""
        empty = (None, None, None, [], None)
        if session is None:
            return *empty, 'Open a photo and its label map first (image and segmap).'
        if canvas is None or canvas.get('composite') is None:
            return *empty, 'Paint on the label map first.'
        systems = [system] + ([s for s in self.editors if s != system] if both else [])
        try:
            results, stages = [], []
            for name in systems:
                editor = self.editor(name)
                edited, mask = edit_from_strokes(session.labels, session.shown, canvas['composite'],
                                                 editor.label_nc, int(grow))
                if not mask.any():
                    return *empty, 'Nothing painted yet: paint a class (or repaint only) on the label map.'
                extra = {}
                if is_siedob(editor):
                    if session.instances is None:
                        raise UserError('SIEDOB edits need the instance map: open it in "instances" '
                                        '(a 16-bit Cityscapes instanceIds PNG)')
                    extra['instances'] = instances_after_edit(session.instances, session.labels, edited)
                    extra['references'] = reference
                    extra['seed'] = int(seed) if seed is not None else None
                out = editor.edit(session.image, edited, mask, **extra)
                results.append(out)
                if name == system:
                    stages = [(Image.fromarray(a), k) for a, k in zip(stage_images(editor.model, mask.shape),
                                                                      ('pasted objects', 'background',
                                                                       'before fusion'))]
                    files = self._downloads(out, edited, mask, tab)
        except UserError as e:
            return *empty, f'⚠ {e}'
        except Exception:  # a bug, not the user's input: logged, and the page keeps working
            log.exception('edit failed')
            return *empty, f'⚠ {INTERNAL}'
        before = Image.fromarray(session.image)
        other = results[1] if len(results) > 1 else None
        session.edits += 1
        note = (f'Edited with {system}' + (' and ' + ', '.join(systems[1:]) if other is not None else '')
                + f' (edit {session.edits}).')
        return results[0], (before, results[0]), other, stages, files, note

    def tab_folder(self, tab):
        return os.path.join(self.work_dir, ''.join(c for c in str(tab) if c.isalnum()) or 'tab')

    def forget(self, tab):
        """A tab closed: its downloads go."""
        shutil.rmtree(self.tab_folder(tab), ignore_errors=True)

    def _new_folder(self, tab):
        """A new folder of the tab's, for the files one event hands the page."""
        os.makedirs(self.tab_folder(tab), exist_ok=True)
        return tempfile.mkdtemp(dir=self.tab_folder(tab))

    def _downloads(self, out, labels, mask, tab):
        folder = self._new_folder(tab)
        paths = [os.path.join(folder, n) for n in ('result.png', 'labels.png', 'mask.png')]
        out.save(paths[0])
        Image.fromarray(labels.astype(np.uint16 if labels.max() > 255 else np.uint8)).save(paths[1])
        Image.fromarray(mask.astype(np.uint8) * 255).save(paths[2])
        return paths


# ---- the page ----------------------------------------------------------------------------------------

CSS = """
.legend {display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 0.85em}
.swatch i {display: inline-block; width: 0.9em; height: 0.9em; margin-right: 4px; vertical-align: -1px;
           border: 1px solid #8888}
#message {min-height: 1.5em}
"""


def theme():
    """Gradio's default look with the system's fonts: nothing is fetched from a font service."""
    import gradio as gr
    system = ['ui-sans-serif', 'system-ui', 'sans-serif']
    return gr.themes.Default(font=system, font_mono=['ui-monospace', 'monospace'])


def build_page(web):
    """The Gradio Blocks of a WebEditor."""
    import gradio as gr

    systems = list(web.editors)
    first = systems[0]
    siedob_loaded = any(is_siedob(e) for e in web.editors.values())
    with gr.Blocks(title='Semantic image editing', analytics_enabled=False, delete_cache=(1800, 3600)) as page:
        gr.Markdown('## Semantic image editing\nOpen a photo and its label map, pick a class, paint where it '
                    'should be, press **Run**. The repainted region is what you painted, grown by a few pixels.')
        message = gr.Markdown(' '.join(web.notes) or 'Open a photo and its label map (or pick an example below).',
                              elem_id='message')
        session = gr.State(None)
        files = gr.State({})  # upload box name -> its file
        reference = gr.State(None)
        with gr.Row():
            model = gr.Radio(systems, value=first, label='System', elem_id='model', visible=len(systems) > 1)
            both = gr.Checkbox(False, label='Run both systems, side by side', elem_id='both',
                               visible=len(systems) > 1)
        with gr.Row():
            image = gr.File(label='Photo (image)', file_types=['image'], elem_id='image')
            segmap = gr.File(label='Label map: ids or a palette PNG (segmap)', file_types=['image'], elem_id='segmap')
            instances = gr.File(label='Instance map, SIEDOB (instances)', file_types=['image'], elem_id='instances',
                                visible=siedob_loaded)
        make_labels = gr.Button('No label map? Make it from the photo (a segmentation model)', elem_id='segment',
                                size='sm')
        if web.examples:
            gr.Examples(web.examples, [image, segmap, instances], label='Examples (the demo dataset)')
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                choices = web.class_choices(first)
                pick = gr.Dropdown(choices, value=choices[0], label='Class to paint', filterable=True,
                                   elem_id='class')
                grow = gr.Slider(0, 32, value=6, step=1, label='Grow the repainted region (pixels)', elem_id='grow')
                live = gr.Checkbox(False, label='Live: run after every stroke', elem_id='live')
                seed = gr.Number(0, precision=0, label='Seed (SIEDOB: the random reference)', elem_id='seed',
                                 visible=siedob_loaded)
                run = gr.Button('Run', variant='primary', elem_id='run')
                legend = gr.HTML(web.legend(first), elem_id='legend')
            with gr.Column(scale=3):
                colour = web.brush_colour(first, choices[0])
                canvas = gr.ImageEditor(label='Label map: paint here', elem_id='labels', type='numpy',
                                        image_mode='RGB', format='png', sources=(), transforms=(), layers=False,
                                        brush=gr.Brush(colors=[colour], default_color=colour, color_mode='fixed'),
                                        eraser=gr.Eraser())
        with gr.Row():
            result = gr.Image(label='Result', elem_id='result', format='png', type='pil', interactive=False)
            other = gr.Image(label='The other system', elem_id='result_other', format='png', type='pil',
                             interactive=False, visible=len(systems) > 1)
        compare = gr.ImageSlider(label='Before / after', elem_id='compare', format='png', type='pil',
                                 interactive=False)
        with gr.Accordion('SIEDOB: references and stages', open=False, visible=siedob_loaded):
            gallery = gr.Gallery(web.references('SIEDOB'), label='Reference for new objects (none picked: a '
                                 'random one, by the seed)', elem_id='references', columns=8, height=160,
                                 format='png', allow_preview=False)
            random_ref = gr.Button('Random reference', elem_id='random_reference', size='sm')
            stages = gr.Gallery(label='Stages: pasted objects, background, before fusion', elem_id='stages',
                                columns=3, format='png')
        downloads = gr.File(label='Downloads: result, edited label map (ids), mask', elem_id='downloads',
                            file_count='multiple', interactive=False)

        def open_files(system, files):
            """(session, canvas update, message, legend) of the boxes' latest files: the canvas kept
            as it is when they open nothing."""
            sess, value, note, leg = web.open(system, *((files or {}).get(k) for k in UPLOADS))
            return sess, gr.update() if value is None else value, note, leg

        def opened_by(name):
            def opened(system, value, files):
                # the files live on the server, one box at a time: events that arrive out of order (two
                # uploads at once, an example filling three boxes) still end with every box's latest file
                files = {k: v for k, v in (files or {}).items() if k != name}
                if value is not None:
                    files[name] = value
                return (files, *open_files(system, files))
            return opened

        for name, upload in zip(UPLOADS, (image, segmap, instances)):
            upload.change(opened_by(name), [model, upload, files], [files, session, canvas, message, legend],
                          show_progress='hidden', concurrency_limit=1, concurrency_id='open')

        def segmented(system, files, request: gr.Request):
            # the label map (and SIEDOB's instances) go into their upload boxes, whose events open them
            try:
                seg, inst = web.segment(system, (files or {}).get('image'), tab=request.session_hash)
            except UserError as e:
                return gr.update(), gr.update(), f'⚠ {e}'
            except Exception:
                log.exception('segmenting the photo failed')
                return gr.update(), gr.update(), f'⚠ {INTERNAL}'
            return seg, inst or gr.update(), 'Made the label map from the photo; opening it.'

        make_labels.click(segmented, [model, files], [segmap, instances, message], concurrency_limit=1,
                          concurrency_id='model')

        def chose_class(system, name):
            c = web.brush_colour(system, name)
            return gr.ImageEditor(brush=gr.Brush(colors=[c], default_color=c, color_mode='fixed'))

        pick.change(chose_class, [model, pick], canvas, show_progress='hidden')

        def chose_system(system, files):
            names = web.class_choices(system)
            return (gr.Dropdown(names, value=names[0]), *open_files(system, files))

        model.change(chose_system, [model, files], [pick, session, canvas, message, legend],
                     show_progress='hidden', concurrency_limit=1, concurrency_id='open')

        def picked_reference(evt: gr.SelectData):
            refs = web.references('SIEDOB')
            path = refs[evt.index][0]
            name = os.path.basename(os.path.dirname(os.path.dirname(path)))
            stem = os.path.splitext(os.path.basename(path))[0]
            folder = os.path.join(os.path.dirname(os.path.dirname(path)), 'inst_mask')
            masks = [f for f in os.listdir(folder) if os.path.splitext(f)[0] == stem] if os.path.isdir(folder) else []
            if not masks:
                return None, f'⚠ the reference {path} has no mask in {folder}; a random one is used'
            return {name: [(path, os.path.join(folder, masks[0]))]}, f'Reference: {name} {stem}.'

        gallery.select(picked_reference, None, [reference, message])
        random_ref.click(lambda s: (None, f'Reference: a random one (seed {int(s or 0)}).'), seed,
                         [reference, message])

        def edit(sess, value, system, g, s, ref, b, request: gr.Request):
            return web.run(sess, value, system, g, s, ref, b, tab=request.session_hash)

        outputs = [result, compare, other, stages, downloads, message]
        inputs = [session, canvas, model, grow, seed, reference, both]
        run.click(edit, inputs, outputs, concurrency_limit=1, concurrency_id='model', show_progress_on=[result])

        def live_edit(sess, value, system, g, s, ref, b, on, request: gr.Request):
            if not on:
                return (gr.update(),) * len(outputs)
            return edit(sess, value, system, g, s, ref, b, request)

        canvas.change(live_edit, inputs + [live], outputs, trigger_mode='always_last', concurrency_limit=1,
                      concurrency_id='model', show_progress='hidden')
        def closed(request: gr.Request):
            web.forget(request.session_hash)

        page.unload(closed)
    return page


def examples_of(dataroot, dataset='demo', n=4):
    """[(image, segmap, instances)] of a dataset's first test scenes, where the folders exist."""
    root = os.path.join(dataroot, dataset, 'test')
    folders = [os.path.join(root, d) for d in ('images', 'labels', 'inst_map')]
    if not all(os.path.isdir(f) for f in folders):
        return []
    out = []
    for name in sorted(os.listdir(folders[0]))[:n]:
        stem = os.path.splitext(name)[0]
        found = [os.path.join(folders[0], name)]
        for folder in folders[1:]:
            match = [f for f in sorted(os.listdir(folder)) if os.path.splitext(f)[0] == stem]
            found.append(os.path.join(folder, match[0]) if match else None)
        if found[1]:
            out.append(found)
    return out


def load_editors(checkpoint=None, checkpoints_dir=None, device='auto', dataset=None):
    """({system: Editor}, notes): the checkpoints that load; a note (one sentence each) for those that
    do not, while another does. Raises UserError when none loads."""
    editors, notes = {}, []
    for system, path in ((SPM, checkpoint), (SIEDOB, checkpoints_dir)):
        if path is None:
            continue
        try:
            editors[system] = Editor.load(path, dataset=dataset, device=device, quantize='round')
        except UserError as e:
            notes.append(f'⚠ {system} did not load: {e}.')
    if not editors:
        raise UserError(' '.join(n.lstrip('⚠ ') for n in notes) or 'no checkpoint given')
    return editors, notes
