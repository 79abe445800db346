#!/usr/bin/python3
"""bench_data.py SECONDS FILE...: PIL + torchvision 0.14 on one thread, the paper's SimCLR views
(VISSL: RandomResizedCrop 224, flip, ColorJitter(0.8, 0.8, 0.8, 0.2) p 0.8, grayscale p 0.2,
Pillow Gaussian blur p 0.5 radius U[0.1, 2]), two per decoded image. Prints images/s by CPU time
and wall time, with ToTensor + Normalize (the paper's pipeline) and without (uint8 views, like the
toolkit's loader, whose normalisation happens on the GPU)."""
import random, sys, time
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter

torch.set_num_threads(1)
torch.manual_seed(0)
random.seed(0)


class Blur:
    def __call__(self, img):
        if random.random() > 0.5:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))


pil_views = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                       T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), T.RandomGrayscale(0.2), Blur()])
full = T.Compose([pil_views, T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])

secs, files = float(sys.argv[1]), sys.argv[2:]
for name, tf in (("uint8 views", pil_views), ("with ToTensor+Normalize", full)):
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < secs:
        for f in files:
            im = Image.open(f).convert("RGB")
            tf(im)
            tf(im)
            n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print("torchvision %-24s %8.1f images/s per core (CPU time), %8.1f by wall time, %d images" % (name, n / cpu, n / wall, n))
