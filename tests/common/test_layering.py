"""Imports run one way, as docs/overview.md states them: drivers (train.py, test.py, hubconf.py,
app.py, scripts/, the API in semedit/api.py and the web page in semedit/web.py) -> semedit/engine/
-> options/ -> models/ -> data/ -> util/; the reference networks need nothing of their fast twins;
no product file imports a script; every import of the product's own code names the one package,
semedit. Read from the source (every import, also those inside functions), so that a new arrow back
up fails here rather than in a reader's head."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, 'semedit')
#: the rooms of the package from the bottom floor up; a room may import its own floor and those below
FLOORS = ('util', 'data', 'models', 'options', 'engine')
DRIVERS = ('train.py', 'test.py', 'hubconf.py', 'app.py')


def python_files(folder):
    for here, _, names in os.walk(folder):
        yield from (os.path.join(here, n) for n in sorted(names) if n.endswith('.py'))


def product_files():
    yield from python_files(PACKAGE)
    yield from python_files(os.path.join(ROOT, 'scripts'))
    yield from (os.path.join(ROOT, n) for n in DRIVERS)


def imported_modules(path):
    """The absolute module names a file imports (relative imports resolved against its package)."""
    package = os.path.relpath(os.path.dirname(path), ROOT).replace(os.sep, '.')
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f'{base}.{alias.name}' for alias in node.names)


def room(module):
    """'util' ... 'engine' for the package's rooms, 'api' for the package itself and its API, else the
    top-level name where it is one of the checkout's (a script or a driver), else None (a library)."""
    parts = module.split('.')
    if module == 'semedit':
        return None  # ``from semedit import x`` also yields 'semedit.x', which is judged
    if parts[0] == 'semedit':
        return parts[1] if len(parts) > 1 and parts[1] in FLOORS else 'api'
    return parts[0] if parts[0] in ('scripts', 'train', 'test', 'hubconf', 'app', 'tests') + FLOORS else None


def rel(path):
    return os.path.relpath(path, ROOT)


def room_of_file(path):
    parts = rel(path).split(os.sep)
    return parts[1] if parts[0] == 'semedit' and parts[1] in FLOORS else None


def test_imports_run_down_the_floors():
    wrong = []
    for path in product_files():
        here = room_of_file(path)
        if here is None:
            continue
        for module in imported_modules(path):
            there = room(module)
            if there is not None and (there not in FLOORS or FLOORS.index(there) > FLOORS.index(here)):
                wrong.append(f'{rel(path)} imports {module}')
    assert not wrong, wrong


def test_the_product_s_own_code_is_imported_as_semedit_only():
    """A bare ``import models`` / ``from util...`` would find another package of that name (or none)."""
    wrong = [f'{rel(p)} imports {m}' for p in product_files() for m in imported_modules(p)
             if m.split('.')[0] in FLOORS]
    assert not wrong, wrong


def test_no_product_file_imports_a_script_or_a_driver():
    wrong = [f'{rel(p)} imports {m}' for p in product_files() for m in imported_modules(p)
             if room(m) in ('scripts', 'train', 'test', 'hubconf', 'app', 'tests')
             and not rel(p).startswith('scripts')]
    assert not wrong, wrong


def test_the_package_s_rooms_do_not_import_its_api():
    wrong = [f'{rel(p)} imports {m}' for p in product_files() if room_of_file(p)
             for m in imported_modules(p) if room(m) == 'api']
    assert not wrong, wrong


def test_the_reference_networks_import_nothing_of_the_fast_ones():
    networks = os.path.join(PACKAGE, 'models', 'networks')
    wrong = [f'{n} imports {m}' for n in sorted(os.listdir(networks)) if n.endswith('.py')
             for m in imported_modules(os.path.join(networks, n)) if m.startswith('semedit.models.networks.fast')
             and n != 'implementation.py']  # the switch itself imports fast/ when asked for it
    assert not wrong, wrong


def test_siedob_s_facts_import_nothing_of_ours():
    """semedit/data/siedob_constants.py is read by data/ and models/ alike (networks included)."""
    path = os.path.join(PACKAGE, 'data', 'siedob_constants.py')
    assert all(room(m) is None for m in imported_modules(path))


def test_only_the_web_page_imports_gradio():
    """Gradio is the web editor's (semedit/web.py): the rest of the product loads without it."""
    wrong = [f'{rel(p)} imports {m}' for p in product_files() for m in imported_modules(p)
             if m.split('.')[0] == 'gradio' and rel(p) != os.path.join('semedit', 'web.py')]
    assert not wrong, wrong
