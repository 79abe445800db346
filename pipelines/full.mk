# pipelines/full.mk: the whole TDANN pipeline (stage graph of architecture.md section 1).
#
#   make -f pipelines/full.mk                       embedded default: procedural data, CPU, minutes
#   make -f pipelines/full.mk RUN=try2 -j2          another run directory; independent stages in parallel
#   make -f pipelines/full.mk CONFIG=configs/paper.yaml DATA=/data/imagenet/train FLOC=/data/fLoc
#   make -f pipelines/full.mk runs/default/tdann/tuning.h5     one artifact (and what it needs)
#
# Everything goes to $(RUNS)/$(RUN)/ (default runs/<config name>/); each stage logs to runs/$(RUN)/log/<stage>.log (command, start,
# output, end, exit code, elapsed). A stage reruns only when one of its inputs changed: the
# artifacts it reads, or the config sections it reads. The config is split into one file per
# section (runs/$(RUN)/cfg/<section>.yaml, rewritten by config-section only when that section's
# content changes), so editing `probe_floc:` reruns probe-floc and make-maps and nothing else.
# Tool binaries are order-only prerequisites: rebuilding a tool does not rerun finished stages
# (delete an artifact, or `make -f pipelines/full.mk clean-run`, to force).
#
# The three models of the report, as in the official code's figures: unoptimized (random weights,
# initial sheet); task-only (a fresh Stage-3 network trained with alpha = 0 on the swapped sheet:
# the alpha = 0 member of the official alpha sweep, same initialisation and data order as the
# TDANN); TDANN (Stage 3, alpha from the tdann section). Stage 1 (the non-spatial network whose
# grating responses SwapOpt uses) is probed too, but it is not the task-only control: the swapped
# positions were optimised for its own responses, so its maps are smooth by construction.

CONFIG ?= configs/default.yaml
RUN ?= $(basename $(notdir $(CONFIG)))
RUNS ?= runs
DATA ?=
FLOC ?=
BIN := bin
R := $(RUNS)/$(RUN)
LOG := pipelines/lib/logrun.sh
SEC := $(BIN)/config-section

.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:
.PHONY: all tools clean-run status
all: $(R)/maps/report.md $(R)/stage1/tuning.h5 $(R)/stage1/selectivity.h5
	@echo "full.mk: run '$(RUN)' complete: $(R)/maps/report.md"

# ---- tools (built once by the main Makefile) --------------------------------------------------
TOOLS := config-section make-stimuli make-sheet train-joint extract-activations swapopt \
         probe-gratings probe-floc make-maps
$(TOOLS:%=$(BIN)/%): tools
tools:
	@$(MAKE) --no-print-directory -f Makefile all

# ---- config sections: rewritten only when their text changes ----------------------------------
# '+' runs these recipes under make -n / -t as well, so a dry run sees real section changes.
SECTIONS := seed model data sheet swapopt stage1 tdann extract stimuli probe_gratings probe_floc maps
CFG := $(SECTIONS:%=$(R)/cfg/%.yaml)
$(CFG): $(R)/cfg/%.yaml: $(CONFIG) FORCE | $(BIN)/config-section
	+@mkdir -p $(@D) && $(SEC) $(CONFIG) $* -o $@
# data and fLoc paths given on the command line act like a config section of their own
$(R)/cfg/paths.txt: FORCE
	+@mkdir -p $(@D) && printf 'DATA=%s\nFLOC=%s\n' '$(DATA)' '$(FLOC)' > $@.new && \
	  { cmp -s $@.new $@ && rm -f $@.new || mv $@.new $@; }
FORCE:
c = $(R)/cfg/$(1).yaml
DATA_OPT := $(if $(DATA),--data-kind folder --data-path $(DATA))
FLOC_OPT := $(if $(FLOC),--dir $(FLOC),--procedural)
RUNTOOL = @mkdir -p $(@D) && $(LOG) $(R)/log/$(1).log $(BIN)/

# ---- stimuli ----------------------------------------------------------------------------------
$(R)/stimuli/gratings.h5: $(call c,stimuli) | $(BIN)/make-stimuli
	$(call RUNTOOL,stimuli-gratings)make-stimuli gratings --config $(CONFIG) -o $@
$(R)/stimuli/floc.h5: $(call c,stimuli) $(call c,seed) $(R)/cfg/paths.txt | $(BIN)/make-stimuli
	$(call RUNTOOL,stimuli-floc)make-stimuli floc $(FLOC_OPT) --config $(CONFIG) -o $@
$(R)/stimuli/sample.h5: $(call c,stimuli) $(call c,data) $(call c,seed) $(R)/cfg/paths.txt | $(BIN)/make-stimuli
	$(call RUNTOOL,stimuli-sample)make-stimuli folder $(DATA_OPT) --config $(CONFIG) -o $@

# ---- sheet and models --------------------------------------------------------------------------
$(R)/sheet_init.h5: $(call c,model) $(call c,sheet) $(call c,seed) | $(BIN)/make-sheet
	$(call RUNTOOL,make-sheet)make-sheet --config $(CONFIG) -o $@
$(R)/unoptimized/model.h5: $(call c,model) $(call c,stage1) $(call c,seed) | $(BIN)/train-joint
	$(call RUNTOOL,unoptimized-init)train-joint --config $(CONFIG) --stage stage1 --init-only -o $@
$(R)/stage1/model.h5: $(call c,model) $(call c,data) $(call c,stage1) $(call c,seed) $(R)/cfg/paths.txt $(R)/sheet_init.h5 | $(BIN)/train-joint
	$(call RUNTOOL,train-stage1)train-joint --config $(CONFIG) --stage stage1 --sheet $(R)/sheet_init.h5 $(DATA_OPT) -o $@
$(R)/sheet.h5: $(R)/sheet_init.h5 $(R)/stage1/acts_gratings.h5 $(call c,swapopt) $(call c,seed) | $(BIN)/swapopt
	$(call RUNTOOL,swapopt)swapopt --config $(CONFIG) --sheet $(R)/sheet_init.h5 --activations $(R)/stage1/acts_gratings.h5 -o $@
$(R)/taskonly/model.h5: $(call c,model) $(call c,data) $(call c,tdann) $(call c,seed) $(R)/cfg/paths.txt $(R)/sheet.h5 | $(BIN)/train-joint
	$(call RUNTOOL,train-taskonly)train-joint --config $(CONFIG) --stage tdann --alpha 0 --sheet $(R)/sheet.h5 $(DATA_OPT) -o $@
$(R)/tdann/model.h5: $(call c,model) $(call c,data) $(call c,tdann) $(call c,seed) $(R)/cfg/paths.txt $(R)/sheet.h5 | $(BIN)/train-joint
	$(call RUNTOOL,train-tdann)train-joint --config $(CONFIG) --stage tdann --sheet $(R)/sheet.h5 $(DATA_OPT) -o $@

# ---- activations, probes (the same rules for each model directory) ----------------------------
MODELS := unoptimized taskonly tdann
V1_LAYERS := all
define model_rules
$(R)/$(1)/acts_gratings.h5: $(R)/$(1)/model.h5 $(R)/stimuli/gratings.h5 $(call c,extract) | $(BIN)/extract-activations
	$$(call RUNTOOL,$(1)-extract-gratings)extract-activations --config $(CONFIG) --model $$< --stimuli $(R)/stimuli/gratings.h5 --layers $(2) -o $$@
$(R)/$(1)/acts_floc.h5: $(R)/$(1)/model.h5 $(R)/stimuli/floc.h5 $(call c,extract) | $(BIN)/extract-activations
	$$(call RUNTOOL,$(1)-extract-floc)extract-activations --config $(CONFIG) --model $$< --stimuli $(R)/stimuli/floc.h5 --layers layer4.1 -o $$@
$(R)/$(1)/acts_sample.h5: $(R)/$(1)/model.h5 $(R)/stimuli/sample.h5 $(call c,extract) | $(BIN)/extract-activations
	$$(call RUNTOOL,$(1)-extract-sample)extract-activations --config $(CONFIG) --model $$< --stimuli $(R)/stimuli/sample.h5 --layers layer2.0,layer2.1,layer4.0,layer4.1 -o $$@
$(R)/$(1)/tuning.h5: $(R)/$(1)/acts_gratings.h5 $(call c,probe_gratings) | $(BIN)/probe-gratings
	$$(call RUNTOOL,$(1)-probe-gratings)probe-gratings --config $(CONFIG) --activations $$< -o $$@
$(R)/$(1)/selectivity.h5: $(R)/$(1)/acts_floc.h5 $(call c,probe_floc) | $(BIN)/probe-floc
	$$(call RUNTOOL,$(1)-probe-floc)probe-floc --config $(CONFIG) --activations $$< -o $$@
endef
# stage 1's grating responses feed SwapOpt, which needs every layer; the others need layer2.0
$(eval $(call model_rules,unoptimized,layer2.0))
$(eval $(call model_rules,stage1,all))
$(eval $(call model_rules,taskonly,layer2.0))
$(eval $(call model_rules,tdann,layer2.0))

# ---- maps and report ---------------------------------------------------------------------------
M_SHEETS := $(R)/sheet_init.h5 $(R)/sheet.h5 $(R)/sheet.h5
M_TUNING := $(MODELS:%=$(R)/%/tuning.h5)
M_SEL := $(MODELS:%=$(R)/%/selectivity.h5)
M_ACTS := $(MODELS:%=$(R)/%/acts_sample.h5)
M_LOGS := $(R)/taskonly/model.h5 $(R)/tdann/model.h5
comma := ,
commalist = $(subst $(eval) ,$(comma),$(strip $(1)))
$(R)/maps/report.md: $(M_SHEETS) $(M_TUNING) $(M_SEL) $(M_ACTS) $(M_LOGS) $(call c,maps) $(call c,seed) | $(BIN)/make-maps
	$(call RUNTOOL,make-maps)make-maps --config $(CONFIG) --name unoptimized,task-only,tdann \
	  --sheet $(call commalist,$(M_SHEETS)) --tuning $(call commalist,$(M_TUNING)) \
	  --selectivity $(call commalist,$(M_SEL)) --log -,$(call commalist,$(M_LOGS)) \
	  --acts $(call commalist,$(M_ACTS)) -o $(R)/maps

# ---- helpers -----------------------------------------------------------------------------------
status:
	@for f in $(R)/log/*.log; do [ -f "$$f" ] && printf '%-32s %s\n' "$$(basename $$f .log)" "$$(tail -1 $$f)"; done; true
clean-run:
	rm -rf $(R)
