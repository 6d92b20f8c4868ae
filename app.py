"""The web editor: paint new classes on a photo's label map and see the edit, in the browser.

    python app.py                                   # the demo's checkpoints (bash scripts/demo.sh makes them)
    python app.py --checkpoint C.pth                # SPM-PGAN (ours or the authors' file)
    python app.py --checkpoints_dir DIR             # SIEDOB's folder of four parts
    python app.py --host 0.0.0.0 --auth user:pass   # for a lab server
    python app.py --segmenter FOLDER                # its button makes a photo's label map (SegFormer)

Open the address it prints. Offline: nothing is fetched from elsewhere, no analytics, no share link.
"""
import argparse
import os
import shutil
import sys
import tempfile

from semedit.util.errors import ArgumentParser, UserError, exit_on_user_error

DEMO_CHECKPOINT = os.path.join('checkpoints', 'demo', 'latest.pth')
DEMO_SIEDOB = os.path.join('checkpoints', 'siedob_demo', 'fusion')
DEMO_COMMAND = 'pip install -r requirements.txt && bash scripts/demo.sh'
LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def parse(argv):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', help=f'an SPM-PGAN checkpoint file (default: {DEMO_CHECKPOINT}, when no '
                   'checkpoint is given and it exists)')
    p.add_argument('--checkpoints_dir', help=f'SIEDOB\'s folder of four parts (default: {DEMO_SIEDOB}, when no '
                   'checkpoint is given and it exists)')
    p.add_argument('--dataset_name', help='the checkpoint\'s dataset where its file does not say (cityscapes, ade20k)')
    p.add_argument('--host', default='127.0.0.1', help='address to serve on (default 127.0.0.1: this machine '
                   'only; 0.0.0.0 for every interface, with --auth)')
    p.add_argument('--port', type=int, default=7860, help='port (default 7860)')
    p.add_argument('--device', default='auto', help='auto (CUDA if present), cpu, cuda or cuda:N')
    p.add_argument('--auth', metavar='USER:PASSWORD', help='ask for this user name and password (Gradio\'s login)')
    p.add_argument('--max_file_size', default='50mb', help='largest upload accepted (default 50mb)')
    p.add_argument('--examples', help='a dataset folder whose test/ scenes are the examples (default: the demo '
                   'dataset the checkpoint was trained on)')
    p.add_argument('--segmenter', help='the segmentation model of the "make the label map from the photo" button: '
                   'a folder, or a Hugging Face name in the local cache (default: SegFormer-B0 of the checkpoint\'s '
                   'dataset, nvidia/segformer-b0-finetuned-cityscapes-1024-1024 or ...-ade-512-512; fetch it once '
                   'with `hf download NAME`)')
    a = p.parse_args(argv)
    if a.auth is not None and (':' not in a.auth or not a.auth.split(':', 1)[0]):
        p.error(f'--auth {a.auth}: give USER:PASSWORD')
    return a


def checkpoints_of(a):
    """(checkpoint, checkpoints_dir): as given, else the demo's that exist; an error naming the command
    that makes them when there are none."""
    if a.checkpoint or a.checkpoints_dir:
        return a.checkpoint, a.checkpoints_dir
    found = (DEMO_CHECKPOINT if os.path.isfile(DEMO_CHECKPOINT) else None,
             DEMO_SIEDOB if os.path.isdir(DEMO_SIEDOB) else None)
    if not any(found):
        raise UserError(f'no checkpoint given and no demo checkpoints in ./checkpoints: run `{DEMO_COMMAND}` here '
                        f'first (it trains them), or give --checkpoint FILE / --checkpoints_dir DIR')
    return found


def main(argv=None):
    a = parse(argv)
    work = tempfile.mkdtemp(prefix='semedit-app-')
    # before Gradio is imported: no analytics, uploads kept in this server's folder (removed at exit)
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
    os.environ.setdefault('GRADIO_TEMP_DIR', os.path.join(work, 'uploads'))
    try:
        with exit_on_user_error():
            serve(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def serve(a, work):
    from semedit import web

    checkpoint, checkpoints_dir = checkpoints_of(a)
    editors, notes = web.load_editors(checkpoint, checkpoints_dir, a.device, a.dataset_name)
    first = next(iter(editors.values()))
    examples_root = a.examples or os.path.join(first.opt.dataroot or 'datasets', 'demo')
    examples = web.examples_of(os.path.dirname(examples_root), os.path.basename(examples_root))
    page = web.build_page(web.WebEditor(editors, examples, notes, work_dir=os.path.join(work, 'results'),
                                        segmenter=a.segmenter, device=a.device))
    for note in notes:
        print(note, file=sys.stderr)
    if a.host not in LOOPBACK and a.auth is None:
        print(f'warning: serving on {a.host} without --auth: anyone who can reach this port can use the editor',
              file=sys.stderr)
    allowed = [os.path.abspath(p) for p in ([examples_root] + [e.path for e in editors.values()]) if p]
    auth = tuple(a.auth.split(':', 1)) if a.auth else None
    print(f'Editing with {", ".join(editors)}; open http://{a.host}:{a.port} (Ctrl-C stops)', flush=True)
    page.queue(default_concurrency_limit=None).launch(  # the edits: one at a time (web.py)
        server_name=a.host, server_port=a.port, share=False, auth=auth, max_file_size=a.max_file_size,
        allowed_paths=allowed, theme=web.theme(), css=web.CSS, footer_links=[], show_error=False, quiet=True,
        ssr_mode=False, pwa=False, mcp_server=False)


if __name__ == '__main__':
    main()
