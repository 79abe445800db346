# SwapOpt benchmarks (not tests): `make bench-swapopt` (CPU vs a NumPy version of the official code)
# and `make bench-swapopt-gpu` (the paper's budget on all 8 layers with CUDA, checked against the
# CPU on one layer). Work files go to build/bench/swapopt/. See tests/bench/swapopt_bench.sh.
.PHONY: bench-swapopt bench-swapopt-gpu bench-swapopt-full

build/bench/swapopt-synth: tests/bench/swapopt_synth.c $(B)/libtdann.a
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS) $(LDFLAGS)

# BENCH_NUMPY_ATTEMPTS: attempts both implementations run (NumPy: ~2,500 attempts/s here);
# BENCH_ATTEMPTS: our longer run for a steady attempts/s figure.
bench-swapopt: all build/bench/swapopt-synth
	@tests/bench/swapopt_bench.sh cpu

# The paper budget (5e7 attempts) on layer4.1 on this CPU: the 10-minute target.
bench-swapopt-full: all build/bench/swapopt-synth
	@tests/bench/swapopt_bench.sh cpu-full

bench-swapopt-gpu: all build/bench/swapopt-synth
	@tests/bench/swapopt_bench.sh gpu
