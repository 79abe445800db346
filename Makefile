# TDANN toolkit: build and test.
#
#   make              build every program into bin/ (CPU path always; CUDA path when nvcc+cuDNN found)
#   make test         build, then run the unit, golden and CLI tests (last line: N passed, N failed)
#   make CUDA=0       force the CPU-only build          make DEBUG=1   -O0 -g
#   make WERROR=      warnings not fatal (other compilers than CI's gcc 12)
#   make reconfigure  re-detect dependencies            make clean     remove build/ and bin/
#
# The first make on a fresh machine runs tools/build/configure.sh, which installs missing Debian
# packages with apt-get (DEPS=0 to skip) and writes build/config.mk with what it found.
# Sources: common/*.c and kernels/*.c form libtdann.a; kernels/*.cu and common/*.cu join it when
# CUDA=1; *_mpi.c only when Open MPI is found, *_nccl.cu only with NCCL. tools/NAME.c -> bin/NAME.
# tests/unit/*.c (and tests/gpu/*.cu with CUDA) -> one runner; TEST(name) functions are found by
# tools/build/gen-tests.sh. Benchmarks add targets in tests/bench/*.mk.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

CONFIG_MK := build/config.mk
ifeq ($(filter clean reconfigure,$(MAKECMDGOALS)),)
-include $(CONFIG_MK)
endif
$(CONFIG_MK): tools/build/configure.sh
	@mkdir -p build
	@tools/build/configure.sh $@

CUDA ?= $(HAVE_CUDNN)
DEBUG ?= 0
ARCH ?= -march=native
CUDA_ARCH ?= 90
ifeq ($(CUDA),1)
  ifneq ($(HAVE_CUDNN),1)
    $(error CUDA=1 but nvcc/cuDNN/cuBLAS were not found; see 'make reconfigure')
  endif
  FLAVOR := cuda
else
  FLAVOR := cpu
endif

B := build/$(FLAVOR)
ifeq ($(DEBUG),1)
  OPT := -O0 -g
else
  OPT := -O3 -g $(ARCH)
endif

VERSION ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)
DEFS := -D_GNU_SOURCE -DTDANN_CUDA=$(if $(filter 1,$(CUDA)),1,0) -DTDANN_MPI=$(if $(filter 1,$(HAVE_MPI)),1,0) \
        -DTDANN_NCCL=$(if $(filter 11,$(CUDA)$(HAVE_NCCL)),1,0)
INCS := -Icommon -Ikernels -Itests/unit -I$(B) $(HDF5_CFLAGS) $(YAML_CFLAGS) $(BLAS_CFLAGS) $(PNG_CFLAGS) \
        $(if $(filter 1,$(HAVE_MPI)),$(MPI_CFLAGS)) $(if $(filter 1,$(CUDA)),$(CUDA_INC) $(NCCL_INC))
WERROR ?= -Werror
comma := ,
WARN := -Wall -Wextra $(WERROR) -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
CFLAGS := -std=gnu11 $(OPT) -fopenmp $(WARN) $(DEFS) $(INCS) -MMD -MP
NVCCFLAGS := -std=c++17 -O3 -g -lineinfo -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
        $(if $(WERROR),-Werror all-warnings) -Xcompiler -Wall,-Wextra$(if $(WERROR),$(comma)-Werror),-Wno-deprecated-declarations,-fopenmp \
        -Wno-deprecated-declarations $(DEFS) $(INCS) -MMD -MP
LIBS := $(HDF5_LIBS) $(YAML_LIBS) $(BLAS_LIBS) $(PNG_LIBS) $(JPEG_LIBS) \
        $(if $(filter 1,$(HAVE_MPI)),$(MPI_LIBS)) -lm -lpthread
ifeq ($(CUDA),1)
  LIBS += $(CUDA_LIBDIRS) $(if $(filter 1,$(HAVE_NCCL)),$(NCCL_LIBDIRS) -lnccl) -lcudnn -lcublas -lcudart -lstdc++
endif
LDFLAGS := -fopenmp

# ---- sources ----------------------------------------------------------------------------------
LIB_C := $(wildcard common/*.c kernels/*.c)
ifneq ($(HAVE_MPI),1)
  LIB_C := $(filter-out %_mpi.c,$(LIB_C))
endif
LIB_CU :=
ifeq ($(CUDA),1)
  LIB_CU := $(wildcard common/*.cu kernels/*.cu)
  ifneq ($(HAVE_NCCL),1)
    LIB_CU := $(filter-out %_nccl.cu,$(LIB_CU))
  endif
endif
LIB_OBJ := $(LIB_C:%.c=$(B)/%.o) $(LIB_CU:%.cu=$(B)/%.cu.o)
TOOLS := $(patsubst tools/%.c,%,$(wildcard tools/*.c))
PROGS := $(TOOLS:%=bin/%)
TEST_C := $(wildcard tests/unit/*.c)
TEST_CU := $(if $(filter 1,$(CUDA)),$(wildcard tests/gpu/*.cu))
TEST_OBJ := $(TEST_C:%.c=$(B)/%.o) $(TEST_CU:%.cu=$(B)/%.cu.o) $(B)/tests/registry.o
TEST_BIN := $(B)/tests/run-tests

# Relink programs when switching between CPU and CUDA builds.
FLAVOR_STAMP := build/.flavor
ifneq ($(wildcard $(CONFIG_MK)),)
  $(shell mkdir -p build; [ "$$(cat $(FLAVOR_STAMP) 2>/dev/null)" = "$(FLAVOR)" ] || echo $(FLAVOR) > $(FLAVOR_STAMP))
endif

# V=1 shows full command lines.
ifeq ($(V),1)
  say =
else
  say = @printf '  %-5s %s\n' '$(1)' '$(2)';
endif

# ---- rules ------------------------------------------------------------------------------------
.PHONY: all test clean reconfigure info
all: $(PROGS)
	@echo "built $(words $(PROGS)) programs in bin/ ($(FLAVOR) build, version $(VERSION))"

$(B)/version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define TDANN_VERSION "$(VERSION)"' > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv $@.new $@
FORCE:

$(B)/%.o: %.c $(CONFIG_MK) | $(B)/version.h
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CFLAGS) -c $< -o $@

$(B)/%.cu.o: %.cu $(CONFIG_MK) | $(B)/version.h
	@mkdir -p $(@D)
	$(call say,NVCC,$<)$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(B)/libtdann.a: $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

bin/%: $(B)/tools/%.o $(B)/libtdann.a $(FLAVOR_STAMP)
	@mkdir -p bin
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $< $(B)/libtdann.a $(LIBS)

$(B)/tests/registry.c: $(TEST_C) $(TEST_CU) tools/build/gen-tests.sh
	@mkdir -p $(@D)
	@tools/build/gen-tests.sh $(TEST_C) $(TEST_CU) > $@

$(B)/tests/registry.o: $(B)/tests/registry.c
	$(call say,CC,$<)$(CC) $(CFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJ) $(B)/libtdann.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libtdann.a $(LIBS)

# swapopt with its kernels built for baseline x86-64 (no AVX, no FMA instructions): t0204 checks
# that it writes the same sheet as the native build (the AVX-512 paths claim the same bits).
ISA_SWAPOPT := $(if $(filter x86_64,$(shell uname -m)),$(B)/tests/swapopt-x86-64)
$(B)/tests/isa/swapopt_cpu-x86-64.o: kernels/swapopt_cpu.c $(CONFIG_MK) | $(B)/version.h
	@mkdir -p $(@D)
	$(call say,CC,$< (-march=x86-64))$(CC) $(filter-out $(ARCH),$(CFLAGS)) -march=x86-64 -c $< -o $@
$(B)/tests/swapopt-x86-64: $(B)/tools/swapopt.o $(B)/tests/isa/swapopt_cpu-x86-64.o $(B)/libtdann.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $(B)/tools/swapopt.o $(B)/tests/isa/swapopt_cpu-x86-64.o $(B)/libtdann.a $(LIBS)

# The unit runner also runs every tests/cli/t*.sh as one test each (BIN, TESTS_TMP set for them).
# Open MPI in the multi-rank tests talks over loopback TCP only: shared-memory transports and
# interface scans fail in some containers (CI).
MPI_TEST_ENV := OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
test: all $(TEST_BIN) $(ISA_SWAPOPT)
	@TDANN_BIN=$(CURDIR)/bin TDANN_BUILD=$(CURDIR)/$(B) $(MPI_TEST_ENV) $(TEST_BIN)

info:
	@echo "flavor $(FLAVOR), version $(VERSION), tools: $(TOOLS)"

reconfigure:
	@mkdir -p build
	@tools/build/configure.sh $(CONFIG_MK)

clean:
	rm -rf build bin

-include tests/bench/*.mk
-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOLS:%=$(B)/tools/%.d)
