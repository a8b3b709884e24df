"""Parameters and MACs of the PAFNet presets, against the published reference figures.

    .venv/bin/python benchmarks/pafnet/pafnet_fidelity.py

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2), which counts convolutions (incl.
depthwise and transposed) and matmuls, not element-wise ops, pooling or interpolation. It cannot see
torchvision's ``deform_conv2d``, so DCNv2 layers are added by hand (k*k*Cin*Cout per output pixel, like a conv).
Writes benchmarks/pafnet/pafnet_fidelity.json and prints a markdown row for benchmarks/README.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgedet.bench import machine_info
from edgedet.config.schema import ModelConfig
from edgedet.models.layers import ModulatedDeformConv2d
from edgedet.models.zoo import build_model

CASES = [  # name, input size, reference params (M), reference GMACs (None = not published)
    ("pafnet_lite_mbv3", 320, 3.4, 0.78),
    ("pafnet_r18vd", 320, None, None),
    ("pafnet_r50vd", 512, None, None),
]


def count(model: torch.nn.Module, size: int) -> tuple[float, float]:
    """(MACs of one [1, 3, size, size] forward, of which DCN MACs)."""
    dcn_macs = [0]

    def hook(mod, _inp, out):
        k = mod.weight.shape[-1]
        dcn_macs[0] += out.numel() * mod.weight.shape[1] * k * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ModulatedDeformConv2d)]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return fc.get_total_flops() / 2 + dcn_macs[0], float(dcn_macs[0])


def main() -> None:
    torch.set_num_threads(2)
    rows = []
    for name, size, ref_params, ref_gmacs in CASES:
        model = build_model(ModelConfig(name=name, num_classes=80, frozen_stages=-1)).eval()
        parts = {p: sum(x.numel() for x in getattr(model, p).parameters()) for p in ("backbone", "neck", "head")}
        params = sum(parts.values())
        macs, dcn = count(model, size)
        rows.append({
            "model": name, "input": size, "num_classes": 80, "params_M": round(params / 1e6, 3),
            "params_M_by_part": {k: round(v / 1e6, 3) for k, v in parts.items()},
            "GMACs": round(macs / 1e9, 3), "GMACs_dcn_by_hand": round(dcn / 1e9, 3),
            "ref_params_M": ref_params, "ref_GMACs": ref_gmacs,
        })
        print(json.dumps(rows[-1]))
    out = {
        "command": "python benchmarks/pafnet/pafnet_fidelity.py", "date": time.strftime("%Y-%m-%d"),
        "machine": machine_info(),
        "counter": "torch.utils.flop_counter.FlopCounterMode (conv/matmul only), MACs = FLOPs / 2; DCN added by hand",
        "results": rows,
    }
    path = Path(__file__).resolve().parent / "pafnet_fidelity.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    lite = rows[0]
    print(f"| pafnet_lite_mbv3 320, 80 cls | {lite['params_M']}M params (ref 3.4M) | {lite['GMACs']} GMACs "
          f"(ref 0.78) | `{out['command']}` | {out['machine']['cpu']} |")


if __name__ == "__main__":
    main()
