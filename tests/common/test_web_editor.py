"""The web editor (app.py) in a real browser: Debian's Chromium, headless, driven by Playwright.

One server for the module, with stand-in weights for both systems (SPM-PGAN, and SIEDOB's four
parts with references), started as a user starts it, with the network off for its process (any
connection beyond this machine is refused and recorded). Each test opens the page as a user does:
uploads files, picks a class, paints on the canvas with the mouse, presses Run, and reads what the
page shows (the result, the downloads, the message). Screenshots go to each test's folder.
Without a Chromium (CHROMIUM, else /usr/bin/chromium) these tests are skipped; .ci/run installs it.
"""
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, make_model
from semedit.util.checkpoint import save_checkpoint
from semedit.util.label_classes import palette

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f'no Chromium at {CHROMIUM} (Debian: '
                                'apt-get install chromium; or set CHROMIUM)')
CAR = 26
#: Chromium's own background traffic off: this machine has no network
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--disable-quic']

NETWORK_OFF = '''
import os, socket
LOCAL = ('127.0.0.1', '::1', 'localhost', '0.0.0.0')
def _refuse(host):
    with open(os.environ['SEMEDIT_NETWORK_LOG'], 'a') as f:
        f.write(str(host) + '\\n')
    raise OSError('the network is off for this process (the web editor test)')
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL:
        _refuse(address[0])
    return _connect(self, address)
def getaddrinfo(host, *args, **kw):
    if host not in LOCAL and host is not None:
        _refuse(host)
    return _getaddrinfo(host, *args, **kw)
socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_app(folder, *argv):
    """app.py in ``folder`` with the network off; returns (process, url, network log path)."""
    guard = folder / 'network_off'
    guard.mkdir(exist_ok=True)
    (guard / 'sitecustomize.py').write_text(NETWORK_OFF)
    log = folder / 'network.log'
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(guard), ROOT]), SEMEDIT_NETWORK_LOG=str(log),
               OMP_NUM_THREADS='1')
    out = open(folder / 'app.log', 'w')
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'app.py'), '--port', str(port), '--device', 'cpu',
                             *argv], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError('app.py stopped:\n' + (folder / 'app.log').read_text()[-3000:])
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return proc, url, log
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError('app.py did not serve within 120 s:\n' + (folder / 'app.log').read_text()[-3000:])


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---- the files a user opens ----------------------------------------------------------------------------

def street(folder, size=(96, 160), seed=0):
    """A street scene's files: photo (PNG), label ids, 16-bit instances; sky, building, road, one car."""
    from siedob.parts_folder import write_scene
    return write_scene(str(folder), size=size, cars=((60, 80, 10, 40, False),), seed=seed)


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    from siedob.parts_folder import write_parts, write_references
    from segmenters import write_segmenter
    root = tmp_path_factory.mktemp('web')
    spm = str(root / 'spm.pth')
    save_checkpoint(make_model('spmpgan', is_train=False).checkpoint_state(0, 0, 0), spm)
    siedob = root / 'siedob'
    write_parts(str(siedob), 'authors')
    write_references(str(siedob / 'references'), {'car': 2, 'person': 2})
    segmenter = write_segmenter(root / 'segmenter')
    proc, url, log = start_app(root, '--checkpoint', spm, '--checkpoints_dir', str(siedob),
                               '--dataset_name', 'cityscapes', '--max_file_size', '5mb', '--segmenter', segmenter)
    yield {'url': url, 'root': root, 'scene': street(root / 'scene'), 'network_log': log, 'proc': proc,
           'segmenter': segmenter}
    stop(proc)
    assert not log.exists(), 'the server reached for the network: ' + log.read_text()


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """One browser tab on the editor, with the user's gestures."""

    def __init__(self, browser, url, shots):
        self.page = browser.new_page(viewport={'width': 1400, 'height': 1500})
        self.outside = []  # requests for anything not served by this machine
        self.page.on('request', lambda r: None if r.url.startswith(('http://127.0.0.1', 'data:', 'blob:'))
                     else self.outside.append(r.url))
        self.page.goto(url, wait_until='load')
        self.page.wait_for_selector('#image input[type=file]', state='attached', timeout=60000)
        self.shots = shots
        os.makedirs(shots, exist_ok=True)

    def settle(self, quiet=1.0, timeout=60):
        """Wait until no event of the page is pending or running for ``quiet`` seconds."""
        busy = "document.querySelectorAll('[data-testid=status-tracker]:not(.hide)').length"
        deadline, calm = time.time() + timeout, None
        while time.time() < deadline:
            if self.page.evaluate(busy):
                calm = None
            elif calm is None:
                calm = time.time()
            elif time.time() - calm >= quiet:
                return
            time.sleep(0.1)
        who = self.page.evaluate("Array.from(document.querySelectorAll('[data-testid=status-tracker]:not(.hide)'))"
                                 ".map(e => (e.closest('[id]') || {}).id + ': ' + e.innerText)")
        raise AssertionError(f'the page stayed busy: {who}')

    def message(self):
        return self.page.inner_text('#message [data-testid="markdown"]').strip()

    def wait_message(self, *fragments, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.message()
            if all(f in text for f in fragments):
                return text
            time.sleep(0.2)
        raise AssertionError(f'the page says {self.message()!r}, waited for {fragments}')

    def upload(self, elem, path):
        """Open a file in an upload box (the one it shows, if any, cleared first)."""
        clear = self.page.locator(f'#{elem} button[aria-label="Clear"]')
        if clear.count():
            clear.first.click()
        self.page.wait_for_selector(f'#{elem} input[type=file]', state='attached')
        self.page.set_input_files(f'#{elem} input[type=file]', str(path))

    def open(self, image, segmap, instances=None):
        """Clear the three boxes, then open the files, the photo last: its event (they run in order)
        is the one that sets the canvas, so nothing repaints it after the page says 'Opened'."""
        for elem in ('image', 'segmap', 'instances'):
            clear = self.page.locator(f'#{elem} button[aria-label="Clear"]')
            if clear.count():
                clear.first.click()
        self.wait_message('Open a photo')
        self.upload('segmap', segmap)
        if instances:
            self.upload('instances', instances)
        self.upload('image', image)
        said = self.wait_message('Opened')
        self.settle()
        return said

    def choose(self, elem, value):
        box = self.page.locator(f'#{elem} input').first
        box.click()
        box.fill(value)
        self.page.keyboard.press('Enter')
        self.page.wait_for_function(f"document.querySelector('#{elem} input').value === {value!r}")
        self.settle()  # the brush of the new class reaches the canvas

    def system(self, name):
        self.page.locator('#model label', has_text=name).click()
        self.page.wait_for_function("document.querySelector('#class input').value === 'unlabeled'")
        self.settle()

    def paint(self, dx=(-0.15, 0.15), dy=0.0):
        """A horizontal stroke through the middle of the canvas (fractions of its width from the centre)."""
        box = self.page.locator('#labels canvas').first.bounding_box()
        cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2 + dy * box['height']
        self.page.mouse.move(cx + dx[0] * box['height'], cy)
        self.page.mouse.down()
        for t in np.linspace(0, 1, 16):
            self.page.mouse.move(cx + (dx[0] + t * (dx[1] - dx[0])) * box['height'], cy, steps=2)
        self.page.mouse.up()
        time.sleep(1)  # the canvas hands its pixels to the page after the stroke

    def run(self):
        before = self.message()
        self.page.click('#run')
        deadline = time.time() + 120
        while time.time() < deadline and self.message() == before:
            time.sleep(0.2)
        return self.message()

    def fetch(self, url):
        body = self.page.request.get(url).body()
        return np.asarray(Image.open(io.BytesIO(body)))

    def result(self):
        return self.fetch(self.page.locator('#result img').first.get_attribute('src'))

    def downloads(self):
        links = self.page.locator('#downloads a[href]')
        return {os.path.basename(links.nth(i).get_attribute('href')): links.nth(i).get_attribute('href')
                for i in range(links.count())}

    def shot(self, name):
        path = os.path.join(self.shots, name)
        self.page.screenshot(path=path, full_page=True)
        return path

    def close(self):
        assert not self.outside, f'the page fetched from elsewhere: {self.outside}'
        self.page.close()


@pytest.fixture
def page(browser, server, tmp_path):
    tab = Page(browser, server['url'], str(tmp_path / 'screenshots'))
    yield tab
    tab.close()


def assert_edited_inside_only(photo, out, mask):
    """The result equals the photo outside the mask and differs from it inside."""
    assert out.shape == photo.shape
    assert mask.any() and not mask.all()
    assert np.array_equal(out[~mask], photo[~mask])
    assert np.abs(out[mask].astype(int) - photo[mask]).mean() > 1


def edit_outputs(tab):
    files = tab.downloads()
    assert set(files) == {'result.png', 'labels.png', 'mask.png'}, files
    return tab.fetch(files['labels.png']), tab.fetch(files['mask.png']) > 0


# ---- editing ---------------------------------------------------------------------------------------------

def test_paint_a_class_and_run_spmpgan(page, server):
    """Pick 'car', paint a stroke, Run: the result differs from the photo inside the grown stroke and
    equals it outside; the edited label map holds the class where the stroke is; all PNG."""
    scene = server['scene']
    page.open(scene['image'], scene['label'], scene['instance'])
    page.choose('class', 'car')
    page.paint()
    assert 'Edited with SPM-PGAN (edit 1)' in page.run()
    photo = np.asarray(Image.open(scene['image']).convert('RGB'))
    labels, mask = edit_outputs(page)
    out = page.result()
    assert_edited_inside_only(photo, out, mask)
    before = np.asarray(Image.open(scene['label']))
    painted = (labels == CAR) & (before != CAR)
    assert painted.sum() > (before == CAR).sum()           # the stroke is car now
    assert mask[painted].all()                             # ... inside the repainted region
    grown = mask & ~(labels != before)
    assert grown.any()                                     # grown beyond the stroke, classes kept there
    rows, cols = np.nonzero(labels != before)
    h, w = labels.shape
    assert abs(rows.mean() - h / 2) < h / 6 and abs(cols.mean() - w / 2) < w / 6  # where the mouse went
    page.shot('spmpgan_edit.png')
    # both systems side by side
    page.page.locator('#both input').check()
    assert 'Edited with SPM-PGAN and SIEDOB (edit 2)' in page.run()
    other = page.fetch(page.page.locator('#result_other img').first.get_attribute('src'))
    assert other.shape == photo.shape and not np.array_equal(other, page.result())
    page.page.locator('#both input').uncheck()
    # live: a finished stroke runs the edit by itself
    page.page.locator('#live input').check()
    page.choose('class', 'vegetation')
    page.paint(dy=0.25)
    page.wait_message('(edit 3)')
    labels, _ = edit_outputs(page)
    assert (labels == 21).any()


def test_siedob_adds_a_car(page, server):
    scene = server['scene']
    page.system('SIEDOB')
    page.open(scene['image'], scene['label'], scene['instance'])
    page.choose('class', 'car')
    page.paint(dy=0.2)
    assert 'Edited with SIEDOB (edit 1)' in page.run()
    photo = np.asarray(Image.open(scene['image']).convert('RGB'))
    labels, mask = edit_outputs(page)
    assert_edited_inside_only(photo, page.result(), mask)
    page.page.get_by_text('SIEDOB: references and stages').click()
    page.page.wait_for_selector('#stages img')
    assert page.page.locator('#stages img').count() == 3   # pasted objects, background, before fusion
    page.shot('siedob_edit.png')
    # a reference picked from the gallery
    page.page.locator('#references img').first.click()
    page.wait_message('Reference: car car_00')
    assert 'Edited with SIEDOB (edit 2)' in page.run()
    assert_edited_inside_only(photo, page.result(), edit_outputs(page)[1])


def test_bad_inputs_get_one_sentence_and_the_next_edit_works(page, server, tmp_path):
    scene = server['scene']
    photo = Image.open(scene['image'])
    small = tmp_path / 'small_labels.png'
    Image.open(scene['label']).resize((80, 48), Image.NEAREST).save(small)
    colour = tmp_path / 'colour_labels.png'
    Image.fromarray(palette(34)[np.asarray(Image.open(scene['label']))]).save(colour)  # a coloured picture
    text = tmp_path / 'notes.png'
    text.write_text('not a picture')
    cases = [((scene['image'], small), ('size mismatch', 'segmap')),
             ((scene['image'], colour), ('segmap',)),
             ((text, scene['label']), ('image', 'notes.png'))]
    for (image, segmap), fragments in cases:
        page.upload('image', image)
        page.upload('segmap', segmap)
        said = page.wait_message('⚠', *fragments)
        assert 'Traceback' not in said and said.count('\n') == 0, said
        assert os.sep + 'uploads' + os.sep not in said, said   # the file's name, not the server's copy
    # SIEDOB without the instance map
    page.system('SIEDOB')
    page.open(scene['image'], scene['label'])
    page.choose('class', 'car')
    page.paint()
    said = page.run()
    assert said.startswith('⚠') and 'instance map' in said, said
    # an upload over the size limit is refused in one sentence (Gradio's), the server unharmed
    big = tmp_path / 'big.png'
    big.write_bytes(b'\0' * (6 << 20))
    page.upload('image', big)
    toast = page.page.get_by_text('exceed the maximum allowed size')
    toast.wait_for()
    assert 'big.png' in toast.inner_text()
    page.shot('refused.png')
    page.page.reload()
    page.page.wait_for_selector('#image input[type=file]', state='attached')
    # and the next edit works
    page.system('SPM-PGAN')
    page.open(scene['image'], scene['label'])
    page.choose('class', 'car')
    page.paint()
    assert 'Edited with SPM-PGAN' in page.run()
    assert page.result().shape == np.asarray(photo.convert('RGB')).shape


def test_a_6000_by_4000_photo_is_edited_at_the_working_size_and_pasted_back(page, server, tmp_path):
    big = tmp_path / 'big'
    big.mkdir()
    h, w = 4000, 6000
    label = np.full((h, w), 7, np.uint8)
    label[: h // 3] = 23
    photo = np.zeros((h, w, 3), np.uint8)
    photo[..., 0], photo[..., 2] = 90, 160
    photo[: h // 3] = (120, 160, 220)
    Image.fromarray(photo).save(big / 'photo.jpg', quality=95)
    Image.fromarray(label).save(big / 'labels.png')
    note = page.open(big / 'photo.jpg', big / 'labels.png')
    assert '6000×4000' in note and 'canvas' in note
    page.choose('class', 'car')
    page.paint()
    assert 'Edited' in page.run()
    out = page.result()
    assert out.shape == (h, w, 3)
    labels, mask = edit_outputs(page)
    assert labels.shape == (h, w) and mask.any()
    read = np.asarray(Image.open(big / 'photo.jpg').convert('RGB'))
    assert np.array_equal(out[~mask], read[~mask])


def test_two_tabs_edit_at_once_each_its_own(browser, server, tmp_path):
    """Two tabs open different scenes and run at the same time: each gets its own result."""
    scenes = [server['scene'], street(tmp_path / 'other', seed=5)]
    tabs = [Page(browser, server['url'], str(tmp_path / f'tab{i}')) for i in range(2)]
    try:
        for tab, scene in zip(tabs, scenes):
            tab.open(scene['image'], scene['label'])
            tab.choose('class', 'car')
        tabs[0].paint(dx=(-0.3, -0.1))
        tabs[1].paint(dx=(0.1, 0.3))
        for tab in tabs:
            tab.page.click('#run')
        for tab, scene in zip(tabs, scenes):
            tab.wait_message('Edited')
            photo = np.asarray(Image.open(scene['image']).convert('RGB'))
            labels, mask = edit_outputs(tab)
            assert_edited_inside_only(photo, tab.result(), mask)
        left, right = (np.nonzero(edit_outputs(t)[1])[1].mean() for t in tabs)
        assert left < right  # each tab's own stroke
    finally:
        for tab in tabs:
            tab.close()


def test_uploads_whose_events_arrive_out_of_order_still_open(page, server):
    """Two uploads at once: the label map's event reaches the server after the photo's (held back here).
    The page still opens both (each box's file is kept on the server, not read from a stale event)."""
    scene = server['scene']
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.page.route('**/queue/join*', hold_the_first)
    page.upload('segmap', scene['label'])
    deadline = time.time() + 30
    while not held and time.time() < deadline:
        page.page.wait_for_timeout(100)
    assert held, "the label map's upload sent no event"
    page.upload('image', scene['image'])
    page.page.wait_for_timeout(2000)          # the photo's event has run by now
    held[0].continue_()
    assert 'Opened' in page.wait_message('Opened')
    page.page.wait_for_timeout(1000)
    page.settle()
    assert 'Opened' in page.message()
    page.page.unroute('**/queue/join*')


def test_a_photo_without_a_label_map_gets_one_from_the_segmenter(page, server):
    """Only a photo: the button fills the label map (and SIEDOB's instances) from the segmentation
    model, the canvas opens, a painted car edits."""
    import semedit
    from semedit.data.segmentation_classes import instances_from_labels
    scene = server['scene']
    page.page.click('#segment')
    assert 'open a photo (image) first' in page.wait_message('⚠')
    page.upload('image', scene['image'])
    page.wait_message('Open a photo')
    page.settle()
    page.page.click('#segment')
    page.wait_message('Opened')
    page.settle()
    labels, _ = semedit.segment(scene['image'], segmenter=server['segmenter'], device='cpu')
    made = page.fetch(page.page.locator('#segmap a[href]').first.get_attribute('href'))
    assert np.array_equal(made, labels)                                   # the ids, as palette indices
    instances = page.fetch(page.page.locator('#instances a[href]').first.get_attribute('href'))
    assert np.array_equal(instances, instances_from_labels(labels))
    page.choose('class', 'car')
    page.paint()
    assert 'Edited with SPM-PGAN (edit 1)' in page.run()
    edited, mask = edit_outputs(page)
    assert np.array_equal(edited[~mask], labels[~mask]) and (edited[mask] == CAR).any()


# ---- starting the server -----------------------------------------------------------------------------

def test_a_checkpoint_that_does_not_load_is_said_in_the_page(browser, server, tmp_path):
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'not a checkpoint')
    proc, url, log = start_app(tmp_path, '--checkpoint', str(broken), '--checkpoints_dir',
                               str(server['root'] / 'siedob'))
    try:
        tab = Page(browser, url, str(tmp_path / 'shots'))
        said = tab.message()
        assert 'SPM-PGAN did not load' in said and 'broken.pth' in said, said
        assert tab.page.locator('#model').is_hidden()  # one system: no picker
        tab.close()
    finally:
        stop(proc)
    assert not log.exists()


def test_no_checkpoint_names_the_command_that_makes_them(tmp_path):
    from helpers import run
    out = run(tmp_path, sys.executable, os.path.join(ROOT, 'app.py'), expect=2)
    assert out.startswith('error: ') and out.count('\n') == 1 and 'bash scripts/demo.sh' in out, out


def test_served_beyond_this_machine_without_auth_says_so(tmp_path, server):
    proc, url, log = start_app(tmp_path, '--checkpoint', str(server['root'] / 'spm.pth'), '--host', '0.0.0.0',
                               '--dataset_name', 'cityscapes')
    stop(proc)
    assert 'without --auth' in (tmp_path / 'app.log').read_text()


def test_auth_asks_for_the_login(tmp_path, server):
    import urllib.error
    import urllib.parse
    proc, url, log = start_app(tmp_path, '--checkpoint', str(server['root'] / 'spm.pth'), '--dataset_name',
                               'cityscapes', '--auth', 'me:secret')
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + '/config', timeout=10)
        assert refused.value.code == 401

        def login(password):
            form = urllib.parse.urlencode({'username': 'me', 'password': password}).encode()
            try:
                return urllib.request.urlopen(url + '/login', data=form, timeout=10).status
            except urllib.error.HTTPError as e:
                return e.code
        assert login('wrong') >= 400 and login('secret') == 200
    finally:
        stop(proc)
