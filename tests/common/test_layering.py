"""Imports run one way, as docs/overview.md states them: drivers (train.py, test.py, scripts/) ->
engine/ -> options/ -> models/ -> data/ -> util/; the reference networks need nothing of their fast
twins; no product file imports a script. Read from the source (every import, also those inside
functions), so that a new arrow back up fails here rather than in a reader's head."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the rooms from the bottom floor up; a room may import its own floor and the floors below
FLOORS = ('util', 'data', 'models', 'options', 'engine')
PRODUCT = FLOORS + ('scripts', 'semedit')  # scripts/ and semedit/ (the Python API) are drivers


def product_files():
    for room in PRODUCT:
        for folder, _, names in os.walk(os.path.join(ROOT, room)):
            yield from (os.path.join(folder, n) for n in sorted(names) if n.endswith('.py'))
    yield from (os.path.join(ROOT, n) for n in ('train.py', 'test.py'))


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
    top = module.split('.')[0]
    return top if top in PRODUCT + ('train', 'test') else None


def rel(path):
    return os.path.relpath(path, ROOT)


def test_imports_run_down_the_floors():
    wrong = []
    for path in product_files():
        here = rel(path).split(os.sep)[0]
        if here not in FLOORS:
            continue
        for module in imported_modules(path):
            there = room(module)
            if there is not None and (there not in FLOORS or FLOORS.index(there) > FLOORS.index(here)):
                wrong.append(f'{rel(path)} imports {module}')
    assert not wrong, wrong


def test_no_product_file_imports_a_script_or_a_driver():
    wrong = [f'{rel(p)} imports {m}' for p in product_files() for m in imported_modules(p)
             if room(m) in ('scripts', 'semedit', 'train', 'test') and not rel(p).startswith(('scripts', 'semedit'))]
    assert not wrong, wrong


def test_the_reference_networks_import_nothing_of_the_fast_ones():
    networks = os.path.join(ROOT, 'models', 'networks')
    wrong = [f'{n} imports {m}' for n in sorted(os.listdir(networks)) if n.endswith('.py')
             for m in imported_modules(os.path.join(networks, n)) if m.startswith('models.networks.fast')
             and n != 'implementation.py']  # the switch itself imports fast/ when asked for it
    assert not wrong, wrong


def test_siedob_s_facts_import_nothing_of_ours():
    """data/siedob_constants.py is read by data/ and models/ alike (networks included)."""
    assert all(room(m) is None for m in imported_modules(os.path.join(ROOT, 'data', 'siedob_constants.py')))
