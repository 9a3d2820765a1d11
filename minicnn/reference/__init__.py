"""The naive reference twins of every layer, the loss and the update rules: loops to read in one sitting.

One module per idea, each a pair of functions in CS231n's style,
``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache) -> dx`` (or
``(dx, dparam, ...)``), every solution body between ``### BEGIN SOLUTION`` and
``### END SOLUTION``. ``minicnn.reference.layers`` makes them Layers
(``FunctionLayer``, ``ReferenceConv2D``...), so they run inside any Sequential;
the tests prove every fast layer in minicnn.layers equal to its twin here.
"""
from minicnn.reference.activations import leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward
from minicnn.reference.conv import conv_backward, conv_forward
from minicnn.reference.dense import dense_backward, dense_forward, flatten_backward, flatten_forward
from minicnn.reference.dropout import dropout_backward, dropout_forward, dropout_mask
from minicnn.reference.global_pooling import global_avg_pool_backward, global_avg_pool_forward
from minicnn.reference.layers import (REFERENCE_CLASSES, FunctionLayer, ReferenceAvgPool2D, ReferenceBatchNorm,
                                      ReferenceConv2D, ReferenceDense, ReferenceDropout, ReferenceFlatten,
                                      ReferenceGlobalAvgPool2D, ReferenceGroupNorm, ReferenceLayer,
                                      ReferenceLayerNorm, ReferenceLeakyReLU, ReferenceMaxPool2D, ReferenceOptimizer,
                                      ReferenceReLU, ReferenceResidual, ReferenceSoftmaxCrossEntropy, reference_twin)
from minicnn.reference.loss import softmax_cross_entropy
from minicnn.reference.normalization import batchnorm_backward, batchnorm_forward
from minicnn.reference.optim import adam, rmsprop, sgd_momentum
from minicnn.reference.per_sample_normalization import (groupnorm_backward, groupnorm_forward, layernorm_backward,
                                                        layernorm_forward)
from minicnn.reference.pooling import avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward
