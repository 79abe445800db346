# cpu_step.mk: `make bench-cpu-step` -- one SimCLR + spatial-loss training step of ResNet-18
# (width 1, 64 px, 64 images x 2 views, SL_REL on 8 layers with k = 500) on the CPU, in the
# native engine and in PyTorch (Debian's /usr/bin/python3, same thread count) in the same run;
# prints images/s of both (every view counted as an image) and the ratio native / PyTorch.
# Not a test. Variables: BENCH_THREADS (default: all cores), BENCH_STEPS (timed steps, default 3),
# BENCH_WAIT (OMP_WAIT_POLICY for both, default PASSIVE as the toolkit's programs use, see
# kernels/cpu_util.c), BENCH_ARGS (extra arguments for both, e.g. "--images 32").

BENCH_THREADS ?= $(shell nproc)
BENCH_STEPS ?= 3
BENCH_WAIT ?= PASSIVE
BENCH_ARGS ?=

$(B)/bench/cpu-step: tests/bench/cpu_step.c $(B)/libtdann.a
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS)

.PHONY: bench-cpu-step
bench-cpu-step: $(B)/bench/cpu-step
	@set -e; \
	echo "load average before: $$(cut -d' ' -f1-3 /proc/loadavg) on $$(nproc) cores; OMP_WAIT_POLICY=$(BENCH_WAIT)"; \
	export OMP_WAIT_POLICY=$(BENCH_WAIT); \
	$(B)/bench/cpu-step --threads $(BENCH_THREADS) --steps $(BENCH_STEPS) $(BENCH_ARGS) | tee $(B)/bench/native.txt; \
	/usr/bin/python3 tests/bench/torch_cpu_step.py --threads $(BENCH_THREADS) --steps $(BENCH_STEPS) $(BENCH_ARGS) | tee $(B)/bench/torch.txt; \
	a=$$(sed -n 's/^native_images_per_s=//p' $(B)/bench/native.txt); \
	b=$$(sed -n 's/^torch_images_per_s=//p' $(B)/bench/torch.txt); \
	echo "load average after: $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	awk -v a=$$a -v b=$$b 'BEGIN { printf "cpu step: native %.1f images/s, PyTorch %.1f images/s, ratio %.2fx\n", a, b, a / b }'
