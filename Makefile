# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
# glibc malloc on transparent huge pages: XLA:CPU faults its buffers in far fewer pages
# (posewarper_jax/host_memory.py). POSEWARPER_HUGE_PAGES=0 runs without.
ifneq ($(POSEWARPER_HUGE_PAGES),0)
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1
endif

.PHONY: venv test demo bench pretrained clean

venv: $(STAMP)

# The venv is (re)built whenever requirements.txt is newer than the last install.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q tests

# The paper's story on generated videos: writes demo_out/REPORT.md and demo_out/results.json.
demo: $(STAMP)
	$(PY) -m posewarper_jax.apps.demo --out demo_out

# Rebuilds checkpoints/synthetic_stills_hrnet, the HRNet that stage 1 and retraining of the
# synthetic runs start from (configs/synthetic_stills.py); about 9 minutes on 2 CPU cores.
pretrained: $(STAMP)
	$(PY) -m posewarper_jax.data.synthetic --out data/synthetic_stills --num-videos 200 \
	    --frames 8 --seed 1 --speed 2.5 --splits train
	$(PY) train.py --config configs/synthetic_stills.py --workdir runs/synthetic_stills
	rm -rf checkpoints/synthetic_stills_hrnet
	$(PY) -m posewarper_jax.models.checkpoint export runs/synthetic_stills \
	    checkpoints/synthetic_stills_hrnet

# benchmarks/side_by_side.py needs torch (requirements-bench.txt) and the official code:
# `make bench OFFICIAL=path/to/PoseWarper`; without OFFICIAL it is skipped.
bench: $(STAMP)
	@for script in benchmarks/*.py; do \
	  args=""; \
	  if [ $$script = benchmarks/side_by_side.py ]; then \
	    if [ -z "$(OFFICIAL)" ]; then echo "== $$script skipped (OFFICIAL not set)"; continue; fi; \
	    args="--official $(OFFICIAL)"; \
	  fi; \
	  echo "== $$script"; $(PY) $$script $$args || exit 1; \
	done

clean:
	rm -rf $(VENV) demo_out
