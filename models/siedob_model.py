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

the fusion network, which composes them into the end-to-end editor, follows. ``--model siedob`` alone will be the end-to-end editor test.py uses once they exist.
"""
from models.base_model import BaseModel
from util.errors import UserError


class SIEDOBModel(BaseModel):
    model_name = 'siedob'
    #: stage name -> 'module:Class' (``models.find_model_using_name(name, stage)``)
    stages = {'background': 'models.siedob.background:SIEDOBBackgroundModel',
              'object_inpainting': 'models.siedob.objects:SIEDOBObjectInpaintingModel',
              'object_style': 'models.siedob.objects:SIEDOBObjectStyleModel'}

    def __init__(self, opt, device, arch=None):
        raise UserError('SIEDOB is trained stage by stage: give --stage ' + ' or --stage '.join(self.stages)
                        + '; the end-to-end editor (--model siedob alone) needs the fusion '
                          'stage, which is not implemented yet')
