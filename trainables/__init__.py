"""Ray Tune function trainables ``train_rbm`` and ``train_conv_ebm``; ``TRAINABLES``: kind -> trainable."""

from trainables.train import TRAINABLES, train_conv_ebm, train_rbm

__all__ = ["TRAINABLES", "train_conv_ebm", "train_rbm"]
