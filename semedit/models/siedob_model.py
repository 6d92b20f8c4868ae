"""SIEDOB (CVPR 2023, "Semantic Image Editing by Disentangling Object and Background"): objects and
background are edited by separate networks, trained separately, and fused (the paper's Fig. 2).

``--model siedob --stage S`` trains one part (``stages``), each a model of its own in
``models/siedob/`` with its nets, losses and checkpoint:

* ``background`` (``models/siedob/background.py``): the background generator with semantic-aware
  self-propagation, against a global and a boundary-anchored patch discriminator (Sec. 3.3);
* ``object_inpainting`` (``models/siedob/objects.py``): completes a partly edited car or person
  from its visible pixels, on 64×64 object crops;
* ``object_style`` (same file): draws a wholly edited object from its mask and class in the style of
  a reference object;
* ``fusion`` (``models/siedob/fusion.py``): with the three above frozen, learns to blend their
  composite into one image.

``--model siedob`` alone (``SIEDOBModel``, below) is the end-to-end editor test.py runs: it reads
the four files from one folder (``--checkpoints_dir``) and edits as upstream's
``fusion/test_one_image.py`` (``models/siedob/composition.py``).
"""
import os

import torch

from semedit.data.object_references import references_for
from semedit.models.base_model import BaseModel
from semedit.models.siedob.composition import edit_scene, scene_inputs
from semedit.models.siedob.fusion import SIEDOB_SIZE_RULE, add_editor_options
from semedit.models.legacy import SIEDOB_FILES
from semedit.models.siedob.parts import build_part, check_compatible, part_nets, read_part
from semedit.util.errors import UserError

#: the parts in upstream's loading order, and the attribute each one's generator is held under
PART_NETS = {'object_inpainting': 'netG_inp', 'object_style': 'netG_sty', 'background': 'netG_BG',
             'fusion': 'netG_F'}


class SIEDOBModel(BaseModel):
    model_name = 'siedob'
    #: stage name -> 'module:Class' (``models.find_model_using_name(name, stage)``)
    stages = {'background': 'semedit.models.siedob.background:SIEDOBBackgroundModel',
              'object_inpainting': 'semedit.models.siedob.objects:SIEDOBObjectInpaintingModel',
              'object_style': 'semedit.models.siedob.objects:SIEDOBObjectStyleModel',
              'fusion': 'semedit.models.siedob.fusion:SIEDOBFusionModel'}
    dataset_items = 'siedob_scene'   # the test split: scenes with instance maps
    inference_nets = tuple(PART_NETS.values())
    arch_options = ('label_nc', 'color_order')
    size_rule = SIEDOB_SIZE_RULE
    missing_net_hint = 'give the folder holding ' + ', '.join(SIEDOB_FILES.values())

    @staticmethod
    def modify_commandline_options(parser, is_train):
        if not is_train:
            add_editor_options(parser)
        return parser

    # ---- the checkpoint folder -------------------------------------------------------------------
    @classmethod
    def read_checkpoint_folder(cls, opt):
        """(checkpoint dict, folder): the four parts from ``--checkpoints_dir`` (or its ``<name>/``), each
        under the authors' file name, ours or theirs; the fusion part may also be our fusion run's
        ``<which_epoch>.pth`` (train.py --stage fusion copies the three others beside it)."""
        folder = opt.checkpoints_dir
        named = os.path.join(folder, opt.name)
        if not os.path.isfile(os.path.join(folder, SIEDOB_FILES['background'])) and \
                os.path.isfile(os.path.join(named, SIEDOB_FILES['background'])):
            folder = named
        if not os.path.isdir(folder):
            raise UserError(f'checkpoint folder not found: {folder} (--checkpoints_dir: the folder holding SIEDOB\'s '
                            f'{", ".join(SIEDOB_FILES.values())})')
        fusion = os.path.join(folder, SIEDOB_FILES['fusion'])
        ours = os.path.join(folder, f'{opt.which_epoch}.pth')
        return cls.read_parts(folder, ours if not os.path.isfile(fusion) and os.path.isfile(ours) else fusion), folder

    @staticmethod
    def read_parts(folder, fusion_path, fusion_ckpt=None):
        """The combined checkpoint dict of the parts in ``folder`` (the fusion part at ``fusion_path``)."""
        paths = {stage: os.path.join(folder, name) for stage, name in SIEDOB_FILES.items()}
        paths['fusion'] = fusion_path
        parts = {stage: (read_part(path, stage) if stage != 'fusion' or fusion_ckpt is None else fusion_ckpt, path)
                 for stage, path in paths.items()}
        bg, fusion = parts['background'][0], parts['fusion'][0]
        arch = {'label_nc': bg['arch']['label_nc'], 'color_order': bg['arch'].get('color_order', 'bgr')}
        return {'format': 'siedob parts', 'model': 'siedob', 'stage': None, 'arch': arch, 'parts': parts,
                'opt': fusion.get('opt') or {}}

    @classmethod
    def from_checkpoint(cls, opt, device, ckpt, path, nets=None):
        """``path``: the folder of the parts, whose ``references/`` (a fusion run's) the edits use."""
        parts = {s: build_part(opt, device, s, c, p) for s, (c, p) in ckpt['parts'].items()}
        return cls(opt, device, parts=parts, folder=path).setup()

    def __init__(self, opt, device, arch=None, parts=None, folder=None):
        if parts is None:
            raise UserError('SIEDOB is trained stage by stage: give --stage ' + ' or --stage '.join(self.stages)
                            + '; --model siedob alone is the end-to-end editor of test.py')
        check_compatible(parts)
        bg = parts['background']
        super().__init__(opt, device, {'label_nc': bg.label_nc, 'color_order': bg.color_order})
        self.parts = parts
        self.label_nc, self.color_order = bg.label_nc, bg.color_order
        self.keep_label_0 = bg.keep_label_0
        nets = part_nets(parts)
        for stage, attr in PART_NETS.items():
            setattr(self, attr, nets[stage])
        self.net_names = tuple(PART_NETS.values())
        self.folder = folder
        self._references = None

    # ---- references -----------------------------------------------------------------------------
    def references(self):
        """The style references: ``--style_dir``, else the folder's ``references/``, else the dataset's
        object crops (``data.object_references.references_for``)."""
        if self._references is None:
            self._references = references_for(self.opt, self.color_order, self.folder)
        return self._references

    def use_references(self, references):
        """Edit with these references (an ``ObjectReferences``) from now on."""
        self._references = references

    # ---- editing ----------------------------------------------------------------------------------
    @torch.no_grad()
    def edit(self, batch):
        """masked_F for a batch of scenes (image, label, instance, mask), float32; known pixels from
        the image. Also keeps ``self.composition`` (objects, background, composite) for panels."""
        self.check_size(batch['image'], 'SIEDOB')
        self.scene = scene_inputs(batch, self.label_nc, self.keep_label_0, self.device)
        with self.runtime.autocast():
            self.composition, self.fake, self.output = edit_scene(
                self.scene, part_nets(self.parts), self.netG_F, self.references().on(self.device), self.opt.bg_inputs)
        return self.output.float()

    def edit_visuals(self):
        """The last edit's stages, for test.py's --save_panel: pasted objects, background, composite
        before fusion."""
        c = self.composition
        return {'objects': c.fg_output.float(), 'background': c.bg_output.float(), 'before_fusion': c.masked_G.float()}
