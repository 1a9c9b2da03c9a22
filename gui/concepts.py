"""One-line explanations of convnet concepts, shown as tooltips for learners."""

TOOLTIPS: dict[str, str] = {
    "conv": "Convolution: each filter slides over the input and takes a dot product at every position.",
    "filter": "A filter (kernel) is a small grid of learned weights; each one produces one feature map.",
    "depth": "Depth: the number of filters in a layer, i.e. how many feature maps it outputs.",
    "stride": "Stride: how many pixels the filter moves between positions; 2 halves the map size.",
    "zero-padding": "Zero-padding: a border of zeros around the input so filters can be centred on the edge pixels.",
    "dilation": "Dilation: gaps between filter taps, so a small filter covers a wider area.",
    "pooling": "Pooling: keeps the max (or average) of each window, shrinking the map and adding tolerance to shifts.",
    "relu": "ReLU: max(0, x) - keeps positive evidence and zeroes the rest.",
    "tanh": "tanh: squashes values into (-1, 1).",
    "sigmoid": "Sigmoid: squashes values into (0, 1).",
    "bn": "Batch normalization: rescales each channel to zero mean and unit variance over the batch.",
    "dropout": "Dropout: randomly zeroes units during training so the network cannot rely on any single one.",
    "flatten": "Flatten: lays the feature maps out as one long vector for the fully connected layers.",
    "fc": "Fully connected: every output unit is a weighted sum of every input unit.",
    "softmax": "Softmax turns the last layer's scores into probabilities that sum to 1.",
    "feature map": "A feature map shows where in the input a filter found its pattern (bright = strong response).",
    "receptive field": "Receptive field: the patch of the input that one unit can see.",
    "effective receptive field": "Effective receptive field: how strongly each input pixel actually moves this unit (|gradient|).",
    "jump": "Jump: the distance in input pixels between neighbouring units of this layer.",
    "learning rate": "Learning rate: the size of each gradient step; too large and training diverges.",
    "batch size": "Batch size: how many examples are averaged for one gradient step.",
    "momentum": "Momentum: keeps a running direction of the gradient steps to move through noisy valleys faster.",
    "weight decay": "Weight decay: pulls weights towards zero to reduce overfitting.",
    "epoch": "Epoch: one pass over the whole training set.",
    "backprop": "Backpropagation computes how the loss changes with every weight, layer by layer.",
    "loss": "Loss: cross-entropy between the predicted probabilities and the true label; lower is better.",
    "accuracy": "Accuracy: the fraction of examples whose top class is the true label.",
}

LAYER_CONCEPTS: dict[str, tuple[str, ...]] = {
    "conv": ("conv", "depth", "stride", "zero-padding", "dilation"),
    "maxpool": ("pooling", "stride", "zero-padding"),
    "avgpool": ("pooling", "stride", "zero-padding"),
    "fc": ("fc",),
}
"""The concepts a layer of each kind is made of (a kind not listed: its own entry, if any)."""


def layer_concepts(kind: str) -> list[str]:
    """One-line explanations of what a layer of this kind does and the numbers that shape it."""
    keys = LAYER_CONCEPTS.get(kind, (kind,))
    return [TOOLTIPS[key] for key in keys if key in TOOLTIPS]
