"""Tiny SegFormer folders for the tests: a config with random weights (nothing downloaded), saved as
a user's ``hf download`` folder would be (config.json, the weights, preprocessor_config.json)."""
import torch

from semedit.data.segmentation_classes import segmenter_classes


def write_segmenter(folder, dataset='cityscapes', constant=None, size=64, seed=0):
    """A SegFormer of ``dataset``'s classes in ``folder``. ``constant``: the class it predicts for
    every pixel (its classifier's weights zero, the bias that class's alone); else random weights."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor
    torch.manual_seed(seed)
    n = segmenter_classes(dataset)
    config = SegformerConfig(num_labels=n, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32],
                             num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16,
                             id2label={i: f'class {i}' for i in range(n)}, label2id={f'class {i}': i for i in range(n)})
    model = SegformerForSemanticSegmentation(config).eval()
    if constant is not None:
        classifier = model.decode_head.classifier
        with torch.no_grad():
            classifier.weight.zero_()
            classifier.bias.zero_()
            classifier.bias[constant] = 1.0
    model.save_pretrained(folder)
    SegformerImageProcessor(size={'height': size, 'width': size}).save_pretrained(folder)
    return str(folder)
