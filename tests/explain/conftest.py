"""Keep the explain tests light on a shared 2-core machine."""

import torch

torch.set_num_threads(1)
