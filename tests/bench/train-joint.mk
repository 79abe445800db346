# bench-train-joint: seconds per training step of the default config's Stage 3 (width 0.25, 96 px,
# SimCLR + spatial loss on 8 layers) on the CPU, and images/s. Not a test (timed).
#   make bench-train-joint [BENCH_STEPS=10] [BENCH_DEVICE=cpu]
# On a GPU machine, tests/gpu/extra-train-joint.sh runs the device checks and times a paper-size step.
BENCH_STEPS ?= 10
BENCH_DEVICE ?= cpu
BENCH_TJ_DIR := build/bench-train-joint
.PHONY: bench-train-joint
bench-train-joint: bin/train-joint bin/make-sheet
	@mkdir -p $(BENCH_TJ_DIR)
	@echo "bench-train-joint: $$(nproc) cores, load average $$(cut -d' ' -f1-3 /proc/loadavg), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	@test -f $(BENCH_TJ_DIR)/sheet.h5 || bin/make-sheet --config configs/default.yaml -o $(BENCH_TJ_DIR)/sheet.h5 >/dev/null
	@bin/train-joint --config configs/default.yaml --stage tdann --sheet $(BENCH_TJ_DIR)/sheet.h5 --device $(BENCH_DEVICE) \
	  --steps $(BENCH_STEPS) --checkpoint-every 0 --eval-every 0 -o $(BENCH_TJ_DIR)/model.h5 2>$(BENCH_TJ_DIR)/log.txt
	@h5dump -y -d /log/images_per_s $(BENCH_TJ_DIR)/model.h5 | sed -n '/DATA {/,/}/p' | grep -o '[0-9][0-9.e+-]*' | tail -n +2 | \
	  awk -v b=$$(sed -n 's/.*steps of \([0-9]*\) images.*/\1/p' $(BENCH_TJ_DIR)/log.txt) \
	  '{s += $$1; n++} END {printf "bench-train-joint: %d images per step: %.1f images/s, %.2f s per step (mean of steps 2..%d)\n", b, s / n, b / (s / n), n + 1}'
