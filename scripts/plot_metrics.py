"""Plot training curves from an experiment's logs to PNG.

    python scripts/plot_metrics.py --name demo            # -> checkpoints/demo/plots/{losses,fid}.png

Reads checkpoints/<name>/loss_log.txt (the printed losses) and metrics_log.jsonl (train-time FID).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.util.errors import ArgumentParser  # noqa: E402
from semedit.util.visualizer import parse_loss_log  # noqa: E402


def plot(series_groups, path, title, ylabel):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(series_groups), figsize=(6 * len(series_groups), 4), squeeze=False)
    for ax, (group, series) in zip(axes[0], series_groups.items()):
        for name, points in sorted(series.items()):
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=name, linewidth=1)
        ax.set_title(group)
        ax.set_xlabel('iteration')
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--name', required=True)
    p.add_argument('--checkpoints_dir', default='checkpoints')
    p.add_argument('--out_dir', default=None, help='default: checkpoints/<name>/plots')
    a = p.parse_args(argv)
    exp = os.path.join(a.checkpoints_dir, a.name)
    out = a.out_dir or os.path.join(exp, 'plots')
    loss_log = os.path.join(exp, 'loss_log.txt')
    if not os.path.isfile(loss_log):
        print(f'error: {loss_log} not found: train first (or check --name / --checkpoints_dir)', file=sys.stderr)
        raise SystemExit(2)
    series = parse_loss_log(loss_log)
    if not series:
        print(f'error: no loss lines in {loss_log}', file=sys.stderr)
        raise SystemExit(2)
    groups = {'generator': {k: v for k, v in series.items() if k.startswith('G')},
              'discriminator': {k: v for k, v in series.items() if k.startswith('D')}}
    written = [plot({g: s for g, s in groups.items() if s}, os.path.join(out, 'losses.png'), a.name, 'loss')]
    metrics_log = os.path.join(exp, 'metrics_log.jsonl')
    if os.path.isfile(metrics_log):
        with open(metrics_log) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if rows:
            written.append(plot({'FID (test split)': {'FID': [(r['iters'], r['FID']) for r in rows]}},
                                os.path.join(out, 'fid.png'), a.name, 'FID'))
    print('Wrote ' + ', '.join(written))
    return written


if __name__ == '__main__':
    main()
