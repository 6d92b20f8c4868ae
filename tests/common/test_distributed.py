"""torchrun with two CPU processes (gloo): DDP training runs, and only rank 0 writes (SPM-PGAN, and
SIEDOB's background stage, whose patch discriminator sees a different number of patches per rank)."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(shutil.which('torchrun') is None and not hasattr(torch.distributed, 'run'),
                    reason='torchrun not available')
@pytest.mark.parametrize('model,port', [([], '29533'),
                                        (['--model', 'siedob', '--stage', 'background', '--crop_size', '64'], '29534'),
                                        (['--model', 'siedob', '--stage', 'object_inpainting'], '29535'),
                                        (['--model', 'siedob', '--stage', 'object_style'], '29536')],
                         ids=['spmpgan', 'siedob-background', 'siedob-object_inpainting', 'siedob-object_style'])
def test_two_process_training_rank0_writes(tmp_path, model, port):
    data_root = tmp_path / 'datasets'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', port,
           'train.py', *model, '--dataset_name', 'demo', '--dataroot', str(data_root), '--checkpoints_dir',
           str(tmp_path / 'ckpt'), '--name', 'ddp', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0',
           '--max_iters', '2', '--batch_size', '1', '--num_workers', '0', '--device', 'cpu', '--print_freq', '1',
           '--no_tensorboard']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('Done: 2 iterations') == 1  # one summary: rank 0 only
    log = (tmp_path / 'ckpt' / 'ddp' / 'loss_log.txt').read_text().splitlines()
    assert len([line for line in log if 'iters 1)' in line]) == 1
    ckpt = torch.load(tmp_path / 'ckpt' / 'ddp' / 'latest.pth', map_location='cpu', weights_only=True)
    assert ckpt['total_iters'] == 2
