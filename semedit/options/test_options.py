"""Test options: single-image editing or the test split with predefined masks."""
from .base_options import BaseOptions


class TestOptions(BaseOptions):
    is_train = False
    description = ('Edit one image (--image_path/--segmap_path/--mask_path) or run the test split '
                   '(--name, --dataset_name, --mask_dir).')

    def initialize(self, parser):
        BaseOptions.initialize(self, parser)
        g = parser.add_argument_group('checkpoint')
        g.add_argument('--checkpoint', '--ckt_path', dest='checkpoint', default=None,
                       help='checkpoint file to load (default: checkpoints/<name>/<which_epoch>.pth)')
        g = parser.add_argument_group('single-image editing')
        g.add_argument('--image_path', default=None, help='the image to edit')
        g.add_argument('--segmap_path', default=None,
                       help='the edited label map: single-channel or palette PNG of label ids; auto: the photo\'s '
                            'own, from a segmentation model (--segmenter; Cityscapes or ADE20K models)')
        g.add_argument('--mask_path', default=None, help='mask PNG, 255 (white) = region to repaint')
        g.add_argument('--instance_path', default=None,
                       help='the instance map (16-bit instanceIds PNG): SIEDOB needs it to find the objects of '
                            'the edit; optional for SPM-PGAN, whose edge map then comes from the label map. auto: '
                            'each connected region of a thing class one instance (Cityscapes; with --segmap_path '
                            'auto the default)')
        g.add_argument('--segmenter', default=None,
                       help='for --segmap_path auto: a folder holding a transformers segmentation model, or a '
                            'Hugging Face name in the local cache (default: SegFormer-B0 of the dataset, '
                            'nvidia/segformer-b0-finetuned-cityscapes-1024-1024 or '
                            'nvidia/segformer-b0-finetuned-ade-512-512); nothing is downloaded')
        g.add_argument('--paint_class', default=None,
                       help='the masked region of the label map becomes this class (a name such as road or car, '
                            'or a label id) before the edit: an edit without painting a label map')
        g.add_argument('--output_path', default=None,
                       help="where to write the edited image; .png or .jpg (default: the authors' "
                            "results/test_single_result.jpg, with results/masked_img.jpg beside it)")
        g.add_argument('--preprocess', choices=['resize', 'none'], default='resize',
                       help='resize: any image size (resized to a working size, result pasted back inside the '
                            'mask); none: run at the native size, which must be one the model accepts (else an error '
                            'says which sizes)')
        g.add_argument('--load_size', type=int, default=256,
                       help='working size of --preprocess resize: the short side, a size the model accepts')
        g.add_argument('--quantize', choices=['truncate', 'round'], default='truncate',
                       help='float -> 8-bit: truncate = upstream tensor2im (an unchanged pixel may lose one '
                            'grey level); round = the fix (unchanged pixels are returned exactly)')
        g.add_argument('--save_panel', action='store_true',
                       help='also write <output>_masked.png and <output>_panel.png: input | masked | labels | '
                            'output, SIEDOB with its stages before the output (pasted objects | background | '
                            'before fusion)')
        g = parser.add_argument_group('test split')
        g.add_argument('--mask_dir', default=None,
                       help='predefined masks, paired with the test images by sorted name; '
                            'without it, seeded training-family masks are generated')
        g.add_argument('--results_dir', default='results', help='results/<name>/<which_epoch>/ is written')
        g.add_argument('--how_many', type=int, default=None, help='stop after this many test images')
        return parser
