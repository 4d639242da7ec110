# The two README commands: `make demo` (set up, then train -> int8 -> export on
# the built-in digits data) and `make test` (set up, then the test suite).
PYTHON ?= python3
OUT ?= out
EDGEDEPLOY = $(PYTHON) -m edgedeploy

.PHONY: setup demo test lint bench

setup:
	./scripts/setup.sh

demo: setup
	mkdir -p $(OUT)
	$(EDGEDEPLOY) train --model small_cnn --dataset digits --input-size 32 --epochs 20 --out $(OUT)/small_cnn --force
	$(EDGEDEPLOY) convert $(OUT)/small_cnn --quantize int8 --out $(OUT)/small_cnn_int8.tflite --report $(OUT)/small_cnn_int8.json --force
	$(EDGEDEPLOY) export $(OUT)/small_cnn_int8.tflite --runtime tflm --labels $(OUT)/small_cnn/labels.json --out $(OUT)/firmware_tflm --force
	$(EDGEDEPLOY) info $(OUT)/small_cnn_int8.tflite

test: setup
	$(PYTHON) -m ruff check edgedeploy tests bench
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check edgedeploy tests bench
	$(PYTHON) -m ruff format --check edgedeploy tests bench
