"""Keep torch to one thread: the suite runs on 2 shared cores and uses small tensors."""

import torch

torch.set_num_threads(1)
