"""Keep the signal tests light on shared CPUs (2 cores for many engineers)."""

import torch

torch.set_num_threads(1)
