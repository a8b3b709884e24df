"""The examples every ``edgedet ... --help`` leads with: what a user types, before the list of options."""

from __future__ import annotations

import argparse

# The order a user works in: data -> train -> eval -> export -> bench -> demo.
PATH = """\
the usual path (each command's --help starts with its own examples):
  edgedet data synth --out data/synth                  # or point --data at a COCO / YOLO / VOC dataset
  edgedet train --model pafnet_lite_mbv3 --data data/synth
  edgedet distill --teacher runs/train-teacher/pafnet_r18vd --model pafnet_lite_mbv3 --data data/synth
  edgedet eval runs/train/pafnet_lite_mbv3/weights/best.pt --data data/synth
  edgedet export runs/train/pafnet_lite_mbv3/weights/best.pt --format onnx,tflite --precision fp32,int8
  edgedet bench runs/export/pafnet_lite_mbv3/onnx_fp32 --target host
  edgedet demo --model runs/export/pafnet_lite_mbv3/onnx_fp32 --source 0
  edgedet quickstart                                   # the whole path on the built-in dataset
"""

# command path (as typed after ``edgedet``) -> two example lines
EXAMPLES: dict[str, tuple[str, str]] = {
    "data": ("edgedet data synth --out data/synth", "edgedet data check data/synth"),
    "data synth": ("edgedet data synth --out data/synth", "edgedet data synth --out data/small --train 200 --val 50"),
    "data check": ("edgedet data check data/synth", "edgedet data check path/to/data.yaml --split val"),
    "data convert": ("edgedet data convert path/to/voc out/coco --to coco",
                     "edgedet data convert data/synth out/yolo --to yolo"),
    "data stats": ("edgedet data stats data/synth", "edgedet data stats data/synth --split val --out val.png"),
    "train": ("edgedet train --model pafnet_lite_mbv3 --data data/synth --epochs 24 --batch 32",
              "edgedet train --resume runs/train/pafnet_lite_mbv3/weights/last.pt"),
    "train-teacher": ("edgedet train-teacher --model pafnet_r18vd --data data/synth",
                      "edgedet train-teacher --model atss_r18_fpn --data data/synth --set train.lr=0.01"),
    "eval": ("edgedet eval runs/train/pafnet_lite_mbv3/weights/best.pt --data data/synth",
             "edgedet eval runs/export/pafnet_lite_mbv3/onnx_int8 --data data/synth --out metrics.json"),
    "export": ("edgedet export runs/train/pafnet_lite_mbv3/weights/best.pt --format onnx            # seconds",
               "edgedet export best.pt --format onnx,tflite --precision fp32,int8 --calib data/synth  # TFLite: ~1 min a pair"),
    "quantize": ("edgedet quantize runs/train/pafnet_lite_mbv3/weights/best.pt --qat --epochs 2   # QAT, then int8",
                 "edgedet quantize best.pt --qat --max-iters 200 --set train.batch=8 --out runs/quantize/qat"),
    "import-paddle": ("edgedet import-paddle output_inference/picodet_s_320_coco_lcnet --out runs/import/picodet_s_320",
                      "edgedet import-paddle ppyoloe_crn_s_300e_coco && edgedet bench ppyoloe_crn_s_300e_coco/edgedet_onnx"),
    "config": ("edgedet config list", "edgedet config show pafnet_lite_mbv3 --set train.epochs=3"),
    "config list": ("edgedet config list", "edgedet config list | grep atss"),
    "config show": ("edgedet config show pafnet_lite_mbv3", "edgedet config show models/atss_r18_fpn.yaml --set train.lr=0.01"),
    "quickstart": ("edgedet quickstart                                  # teacher, alone, distilled, exports: <20 min, 2 cores",
                   "edgedet quickstart --schedule full --device cuda"),
    "predict": ("edgedet predict photos/ --model runs/export/pafnet_lite_mbv3/onnx_fp32 --save out/",
                "edgedet predict clip.mp4 --model runs/train/pafnet_lite_mbv3/weights/best.pt --save-json"),
    "demo": ("edgedet demo --model runs/export/pafnet_lite_mbv3/onnx_fp32 --source 0",
             "edgedet demo --model runs/export/pafnet_lite_mbv3/tflite_int8 --source clip.mp4 --headless --save out.mp4"),
    "distill": ("edgedet distill --teacher runs/train-teacher/pafnet_r18vd --model pafnet_lite_mbv3 --data data/synth",
                "edgedet distill --teacher runs/train-teacher/atss_r18_fpn/weights/best.pt --kd auto"),
    "bench": ("edgedet bench runs/export/pafnet_lite_mbv3/onnx_fp32 runs/export/pafnet_lite_mbv3/tflite_int8 --target host",
              "edgedet bench runs/export/pafnet_lite_mbv3/tflite_fp32 --target ssh://pi@192.168.1.20 --threads 1,2,4"),
}


def lead_with_examples(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Put each (sub)command's examples at the top of its ``--help``, recursively.

    Args:
        parser: the top-level parser (``path`` "") or a subcommand's.
        path: the command path of ``parser`` as typed after ``edgedet`` (a key of :data:`EXAMPLES`).
    """
    if path in EXAMPLES:
        lines = "\n".join(f"  {line}" for line in EXAMPLES[path])
        parser.description = f"examples:\n{lines}\n\n{parser.description or ''}".rstrip()
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                sub.description = sub.description or helps.get(name)
                lead_with_examples(sub, f"{path} {name}".strip())
