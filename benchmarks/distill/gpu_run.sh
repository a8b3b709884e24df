#!/usr/bin/env bash
# The GPU rows of benchmarks/distill: everything in one call of at most ~9 minutes on one lent GPU (an H200 with
# 16 CPU cores here), as `bash benchmarks/distill/gpu_run.sh` from the repository root. What it writes under $OUT:
#   ckpt/distill_table_gpu.json   the table (benchmarks/distill/distill_table.py)
#   ckpt/<row>.pt                 slim checkpoints (EMA weights) of the first seed's rows and of the full-width
#                                 PAFNet-lite trained beside the teachers (for the int8 / quantization tables)
#   logs.tgz                      every run's log, metrics.csv, config.yaml, teacher.json, report.md
# The lent machine has PyTorch but not pycocotools: wheels in .whl/ (pip download ... --python-version 3.12) are
# installed first when present. Budget: teachers ~3 min (time-limited), students ~4 min (fixed schedule, with a
# safety limit that flags a row cut short).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
TEACHER_MIN=${TEACHER_MIN:-2.2}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-6}
STUDENT_MIN=${STUDENT_MIN:-3.0}
PY=${PY:-python3}         # a quick check elsewhere: PY=.venv/bin/python DEVICE=cpu EXTRA="--max-images 32 ..."
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}
mkdir -p "$OUT/ckpt"
export PYTHONPATH=$PWD
if [ -z "${SKIP_WHL:-}" ] && compgen -G ".whl/*.whl" > /dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export EDGEDET_DATA=${EDGEDET_DATA:-/tmp/edgedet_synth} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
$PY -c "import time; t = time.time(); from edgedet.data.synth import ensure_synth; ensure_synth(); \
print(f'built-in dataset generated in {time.time() - t:.0f} s')" || exit 1
$PY benchmarks/distill/distill_table.py --device "$DEVICE" --parallel 11 --workers 1 --teacher-workers 4 \
    --teacher pafnet=pafnet_r18vd --teacher anchor=dynamic_atss_r18_fpn --also pafnet_lite_w1=pafnet_lite_mbv3 \
    --teacher-minutes "$TEACHER_MIN" --teacher-epochs 100 --width 0.5 --imgsz 320 --batch 32 \
    --epochs "$STUDENT_EPOCHS" --student-minutes "$STUDENT_MIN" --seeds 0 1 --ablate --project /tmp/distill_gpu \
    --collect "$OUT/ckpt" --json /tmp/distill_gpu/distill_table_gpu.json $EXTRA
rc=$?
tar czf "$OUT/logs.tgz" -C /tmp/distill_gpu --exclude='*.pt' --exclude='*.png' . 2>/dev/null
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv,noheader 2>/dev/null
exit $rc
