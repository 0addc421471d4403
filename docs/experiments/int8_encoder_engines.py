"""Ad hoc: the packed int8 encoder's quality with weights packed for each quantized engine.

`Encoder(backend="packed", precision="int8")` packs its int8 weights for oneDNN on AMX CPUs and for
torch's default engine (x86: fbgemm's VNNI kernels) elsewhere. This encodes the whole SciFact corpus
with all-MiniLM-L6-v2 both ways on this (AMX) CPU, the second as a CPU without AMX would pack them, and
scores the 300 test queries by exact search (nDCG@10; fp32 gives 0.6451). The seconds are this CPU's,
not a VNNI-only CPU's. Not part of the project's code; docs/speed.md quotes its output.

    PYTHONPATH=. python docs/experiments/int8_encoder_engines.py
"""
import time
import warnings

warnings.simplefilter("ignore")
import retrieval.packed_forward as pf
from benchmarks.collection import load_beir
from benchmarks.paths import shared_dir
from benchmarks.perf.stage1_precision import _ndcg
from retrieval.encoder import BULK_ENCODING, Encoder
data = load_beir(shared_dir() / "datasets" / "scifact")
for name, engine in (("onednn (AMX)", None), ("x86 (fbgemm, VNNI)", "x86")):
    if engine: pf.int8_engine = lambda: None  # torch's default engine, as on a CPU without AMX
    enc = Encoder.load("sentence-transformers/all-MiniLM-L6-v2", device="cpu", backend="packed", precision="int8", batch_size=128, **BULK_ENCODING)
    t = time.perf_counter(); v = enc.encode_documents(data.corpus, show_progress=False); s = time.perf_counter() - t
    print(name, f"{s:.1f} s", "nDCG@10", _ndcg(enc, data, v), flush=True)
