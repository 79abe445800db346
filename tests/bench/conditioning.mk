# conditioning.mk: `make bench-conditioning` -- how sensitive the CUDA engine test's problem is to
# perturbations of the GPU's rounding size, on the CPU engine alone (no GPU needed): the evidence
# for the tolerances in tests/gpu/test_cuda_engine.cu. Not a test; a few seconds per seed on 2
# cores. Variables: COND_ARGS (e.g. "--task supervised --seeds 8 --first 13").
COND_ARGS ?= --seeds 4

$(B)/bench/conditioning: tests/bench/conditioning.c $(B)/libtdann.a
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS)

.PHONY: bench-conditioning
bench-conditioning: $(B)/bench/conditioning
	$(B)/bench/conditioning $(COND_ARGS)
