# tests/bench/gpu.mk: the GPU speed benchmark (issue 9). `make bench-gpu` builds
# $(B)/bench/bench-gpu (CUDA builds only); tests/bench/gpu/run.sh runs it beside the PyTorch
# reference tests/bench/gpu/torch_ref.py and prints the ratios. Not part of `make test`.
.PHONY: bench-gpu
ifeq ($(CUDA),1)
BENCH_GPU := $(B)/bench/bench-gpu
bench-gpu: $(BENCH_GPU)
$(BENCH_GPU): $(B)/tests/bench/gpu/bench_gpu.o $(B)/libtdann.a $(FLAVOR_STAMP)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS)
-include $(B)/tests/bench/gpu/bench_gpu.d
else
bench-gpu:
	@echo "bench-gpu needs the CUDA build (nvcc + cuDNN + cuBLAS; see 'make reconfigure')" >&2; exit 1
endif
