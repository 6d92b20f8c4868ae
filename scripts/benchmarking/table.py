"""The printed table of one run's results (``run.benchmark``) and its --profile."""


def print_table(r):
    print(f"\n{r['model']} benchmark on {r['device']} {r['device_name']} (torch {r['torch']}, {r['threads']} threads), "
          f"ngf {r['ngf']}, {r['size']}×{r['size']}, L={r['label_nc']}; fast path: amp {r['amp']}, compile "
          f"{r['compile']}, channels_last {r['channels_last']}, CUDA graph {r['cuda_graph']}, semantic window "
          f"{r['semantic_window']}; tf32 {r['tf32']}")
    print(f"{r['generator']} {r['params_generator'] / 1e6:.3f} M parameters, {r['gflops_per_image']:.1f} GFLOP per image; "
          f"fp32 matmul ceiling {r['matmul_gflops_fp32']:.0f} GFLOP/s")
    dtype = r['amp'] if r['amp'] != 'none' else 'fp32'  # the fast path's, and its ceiling's
    print(f"\n{'measurement':<34}{'reference':>12}{'fast':>12}{'speed-up':>10}{'max |diff|':>12}{'work cut':>10}")
    for fam, v in r['inference'].items():
        print(f"{'inference b1, ' + fam + ' mask (s)':<34}{v['reference_s']:>12.3f}{v['fast_s']:>12.3f}"
              f"{v['speedup']:>9.2f}×{v['max_abs_diff']:>12.2e}{v['work_ratio']:>9.2f}×")
    t = r['throughput']
    print(f"{'throughput b' + str(t['batch']) + ', box (img/s)':<34}{t['reference_img_s']:>12.2f}{t['fast_img_s']:>12.2f}"
          f"{t['speedup']:>9.2f}×{t['max_abs_diff']:>12.2e}")
    if 'training' in r:
        t = r['training']
        print(f"{'training iteration b1 (s)':<34}{t['reference_s']:>12.3f}{t['fast_s']:>12.3f}{t['speedup']:>9.2f}×"
              f"{'':>12}{t['reference_gflop'] / t['fast_gflop']:>9.2f}×")
    if 'warm_edit' in r:
        print(f"\n{'warm edit, box mask (s)':<34}{'forward':>12}{'editor.edit':>12}{'overhead':>10}")
        for name, v in r['warm_edit'].items():
            print(f"{'  ' + name:<34}{v['forward_s']:>12.3f}{v['edit_s']:>12.3f}{100 * v['overhead']:>9.1f}%")
    if 'memory_mib' in r:
        m = r['memory_mib']

        def fmt(v):
            return f'{v:>12.0f}' if v is not None else f"{'n/a':>12}"

        print(f"{'peak memory, inference (MiB)':<34}{fmt(m['infer:reference'])}{fmt(m['infer:fast'])}")
        print(f"{'peak memory, training (MiB)':<34}{fmt(m['train:reference'])}{fmt(m['train:fast'])}")
    if 'whole_process_edit' in r:
        w = r['whole_process_edit']
        rows = w['processes']
        base = next(iter(rows.values()))['median_s']
        what = ('the authors\' README example' if r['model'] == 'spmpgan' else 'upstream\'s test_one_image.py case: '
                'three objects edited in part')
        print(f"\nwhole-process edit (start, import, build, load, edit, write; {what}, "
              f"{r['size']}², {w['checkpoint_mb']:.0f} MB of checkpoint files; median of {w['repeats']}, in turn)")
        print(f"{'process':<34}{'median s':>10}{'min':>8}{'max':>8}{'vs first':>12}{'peak MiB':>10}")
        for name, v in rows.items():
            print(f"{name:<34}{v['median_s']:>10.2f}{v['min_s']:>8.2f}{v['max_s']:>8.2f}"
                  f"{base / v['median_s']:>11.2f}×{v['peak_rss_mib']:>10.0f}")
        f = w['fidelity']
        print(f"default vs --forward reference PNG: edited region {100 * f['edited_share_over_1_level']:.3f} % of "
              f"pixels > 1 grey level off, mean {f['edited_mean_levels']:.4f} levels; known region max "
              f"{f['known_max_levels']} level(s)")
    print("\nwork cut: the reference's GFLOP over the fast path's, as executed (convs and matmuls, FlopCounterMode)")
    if 'training' in r:
        t = r['training']
        print(f"training iteration work (forward + backward): reference "
              f"{t['reference_gflop']:.0f} GFLOP, {100 * t['reference_fraction_of_ceiling']:.0f} % of the fp32 "
              f"ceiling; fast {t['fast_gflop']:.0f} GFLOP ({t['reference_gflop'] / t['fast_gflop']:.2f}× less), "
              f"{100 * t['fast_fraction_of_ceiling']:.0f} % of the {dtype} ceiling")
    t = r['throughput']
    print(f"\nfast path at batch {t['batch']}: {t['fast_gflops_achieved']:.0f} GFLOP/s (nominal work) = "
          f"{100 * t['fraction_of_matmul_ceiling']:.0f} % of the {dtype} matmul "
          f"ceiling ({t['ceiling_gflops']:.0f} GFLOP/s); benchmark took "
          f"{r['benchmark_seconds']:.0f} s")


def print_profile(what, rows):
    print(f"\nprofile, fast path, {what}: {rows['total_ms']:.1f} ms of operator self time")
    for r in rows['ops']:
        print(f"  {r['op'][:58]:<60}{r['ms']:>9.1f} ms{100 * r['share']:>6.1f} %{r['calls']:>7} calls")
