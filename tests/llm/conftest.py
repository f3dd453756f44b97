"""lab.llm tests: tiny models run fastest single-threaded on a shared 2-core machine."""

import torch

torch.set_num_threads(1)
