# bench-data: the data path (decode + two 224 px SimCLR views) per core, beside PIL + torchvision
# on the same 500x375 JPEGs in the same run, and the ratio. A benchmark, not a test: needs
# /usr/bin/python3 with Pillow, scipy and torchvision (Debian: python3-torchvision python3-scipy).
#   make bench-data [BENCH_SECONDS=5]
BENCH_SECONDS ?= 5
BENCH_DATA_DIR := build/bench-data
.PHONY: bench-data
$(B)/bench/bench-data: tests/bench/bench_data.c $(B)/libtdann.a
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS)
bench-data: $(B)/bench/bench-data
	@test -x /usr/bin/python3 || { echo "bench-data: needs /usr/bin/python3 with Pillow, scipy, torchvision"; exit 1; }
	@test -f $(BENCH_DATA_DIR)/jpeg/img063.jpg || /usr/bin/python3 tests/bench/make_jpegs.py $(BENCH_DATA_DIR)/jpeg 64
	@echo "bench-data: $$(nproc) cores, load average $$(cut -d' ' -f1-3 /proc/loadavg), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	@rm -f $(BENCH_DATA_DIR)/result.txt
	@for round in 1 2; do \
	  $(B)/bench/bench-data --seconds $(BENCH_SECONDS) $(BENCH_DATA_DIR)/jpeg/*.jpg | tee -a $(BENCH_DATA_DIR)/result.txt; \
	  /usr/bin/python3 tests/bench/bench_data.py $(BENCH_SECONDS) $(BENCH_DATA_DIR)/jpeg/*.jpg | tee -a $(BENCH_DATA_DIR)/result.txt; \
	done
	@awk '/^toolkit loader/ {if ($$3 > t) t = $$3} /^toolkit direct/ {if ($$3 > d) d = $$3} \
	     /^torchvision uint8/ {if ($$4 > u) u = $$4} /^torchvision with/ {if ($$4 > f) f = $$4} \
	     END {printf "bench-data: toolkit %.0f images/s per core (loader, 1 thread; direct %.0f); torchvision %.1f (uint8 views), %.1f (with ToTensor+Normalize)\n", t, d, u, f; \
	          printf "bench-data: ratio %.1fx vs uint8 torchvision, %.1fx vs the paper pipeline (targets: >= 600 images/s per core, >= 8x)\n", t / u, t / f}' \
	     $(BENCH_DATA_DIR)/result.txt
