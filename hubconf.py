"""torch.hub entry points, offline from a local checkout:

    editor = torch.hub.load(REPO_DIR, 'spmpgan', source='local', checkpoint='cityscapes.pth')
    editor = torch.hub.load(REPO_DIR, 'siedob', source='local', checkpoints_dir='checkpoints/siedob_demo/fusion')
    out = editor.edit(image, labels, mask)

Each returns the editor of ``semedit.load`` (docs/usage.md, "Editing from Python"); keywords as there."""
dependencies = ['torch', 'torchvision', 'numpy', 'PIL']


def spmpgan(checkpoint, dataset=None, device='auto', **options):
    """SPM-PGAN's editor of ``checkpoint`` (train.py's latest.pth, or the authors' cityscapes.pth /
    ade20k.pth with ``dataset=``)."""
    import semedit
    return semedit.load(checkpoint, dataset=dataset, device=device, **options)


def siedob(checkpoints_dir, device='auto', **options):
    """SIEDOB's end-to-end editor of the folder holding its four parts (ours, a fusion run's folder,
    or the authors' object_inpainting.pth, object_style.pth, bg.pth, Fnet.pth)."""
    import semedit
    return semedit.load(checkpoints_dir, device=device, **options)
