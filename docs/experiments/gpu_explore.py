"""Issue 29 exploration on a GPU: fine-tune all-MiniLM-L6-v2 as stage 1 and a MiniLM-body cross-encoder.

Every choice is made on validation queries (a held-out fifth of SciFact train, or the 809 train queries
for the corpus-only regime); the test queries are only scored with the chosen settings.
Usage: python gpu_explore.py DATA_DIR MODEL_DIR [--fast] [--ce-heads]
(run 1: the grids and two-seed finals; run 2, --ce-heads: cross-encoder head and pseudo-query variants)
"""
import json, math, os, random, re, sys, time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

DATA, MODEL = sys.argv[1], sys.argv[2]
FAST = "--fast" in sys.argv
OUT = os.environ.get("OUT", "/tmp/explore_out")
os.makedirs(OUT, exist_ok=True)
DEV = "cuda" if torch.cuda.is_available() else "cpu"
AMP = torch.bfloat16 if DEV == "cuda" else None
LOG = open(os.path.join(OUT, "log.jsonl"), "a")
T0 = time.time()


def log(**kw):
    kw["t"] = round(time.time() - T0, 1)
    print(json.dumps(kw), flush=True)
    LOG.write(json.dumps(kw) + "\n"); LOG.flush()


def load_beir(name):
    root = f"{DATA}/{name}"
    ids, texts, titles, bodies = [], [], [], []
    for line in open(f"{root}/corpus.jsonl"):
        d = json.loads(line)
        ids.append(str(d["_id"])); t = d.get("title") or ""; b = d.get("text") or ""
        titles.append(t); bodies.append(b); texts.append(f"{t} {b}".strip() if t else b)
    queries = {str(json.loads(l)["_id"]): json.loads(l)["text"] for l in open(f"{root}/queries.jsonl")}
    qrels = {}
    for split in ("train", "test"):
        p = f"{root}/qrels/{split}.tsv"
        if not os.path.exists(p):
            continue
        qr = defaultdict(dict)
        for i, line in enumerate(open(p)):
            if i == 0:
                continue
            q, d, s = line.split("\t")
            qr[q][d] = int(s)
        qrels[split] = dict(qr)
    bm25 = json.load(open(f"{root}/bm25_top100.json"))
    return dict(ids=ids, texts=texts, titles=titles, bodies=bodies, queries=queries, qrels=qrels, bm25=bm25)


def ndcg10(run, qrels, qids):
    vals = []
    for q in qids:
        rel = qrels.get(q, {})
        ranked = sorted(run.get(q, {}).items(), key=lambda x: -x[1])[:10]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        vals.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(vals)) if vals else float("nan")


def recall(run, qrels, qids, k=100):
    vals = []
    for q in qids:
        rel = {d for d, g in qrels.get(q, {}).items() if g > 0}
        top = [d for d, _ in sorted(run.get(q, {}).items(), key=lambda x: -x[1])[:k]]
        vals.append(len(rel & set(top)) / len(rel) if rel else 0)
    return float(np.mean(vals))


# ---------------- stage 1 ----------------
from sentence_transformers import SentenceTransformer


def load_st():
    m = SentenceTransformer(MODEL, device=DEV)
    m.float()
    return m


def encode(model, texts, bs=256):
    model.eval()
    with torch.no_grad():
        return model.encode(texts, batch_size=bs, convert_to_tensor=True, normalize_embeddings=True,
                            show_progress_bar=False).float()


def dense_run(model, ds, qids, k=100, doc_emb=None):
    if doc_emb is None:
        doc_emb = encode(model, ds["texts"])
    qe = encode(model, [ds["queries"][q] for q in qids])
    s = qe @ doc_emb.T
    top = torch.topk(s, k=min(k, s.shape[1]), dim=1)
    run = {}
    for i, q in enumerate(qids):
        run[q] = {ds["ids"][j]: float(v) for v, j in zip(top.values[i].tolist(), top.indices[i].tolist())}
    return run, doc_emb


def mine_triplets(ds, pairs, run, rng, lo=3, hi=30):
    """(query, positive, hard negative) from the stage-1 run: a non-relevant doc at ranks lo..hi."""
    id2text = dict(zip(ds["ids"], ds["texts"]))
    out = []
    for q, qtext, pos, relset in pairs:
        ranked = [d for d, _ in sorted(run[q].items(), key=lambda x: -x[1])]
        cands = [d for d in ranked[lo:hi] if d not in relset]
        neg = rng.choice(cands) if cands else rng.choice(ds["ids"])
        out.append((qtext, id2text[pos] if pos in id2text else pos, id2text[neg]))
    return out


def train_bi(model, triplets, lr, epochs, bs=64, seed=0, after_epoch=None, scale=20.0):
    torch.manual_seed(seed); rng = random.Random(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(triplets) / bs); warm = max(1, int(0.1 * steps)); step = 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm + 1e-9))))
    t = time.time()
    for ep in range(epochs):
        order = list(range(len(triplets))); rng.shuffle(order)
        model.train()
        for b in range(0, len(order), bs):
            batch = [triplets[i] for i in order[b:b + bs]]
            qf = model.tokenize([x[0] for x in batch]); df = model.tokenize([x[1] for x in batch] + [x[2] for x in batch])
            qf = {k: (v.to(DEV) if hasattr(v, "to") else v) for k, v in qf.items()}; df = {k: (v.to(DEV) if hasattr(v, "to") else v) for k, v in df.items()}
            with torch.autocast(DEV, dtype=AMP, enabled=AMP is not None):
                qe = F.normalize(model(qf)["sentence_embedding"].float(), dim=-1)
                de = F.normalize(model(df)["sentence_embedding"].float(), dim=-1)
            loss = F.cross_entropy(qe @ de.T * scale, torch.arange(len(batch), device=DEV))
            loss.backward(); opt.step(); sched.step(); opt.zero_grad(); step += 1
        if after_epoch:
            after_epoch(ep + 1, time.time() - t)
    return time.time() - t


# ---------------- stage 2 ----------------
from transformers import AutoModelForSequenceClassification, AutoTokenizer

TOK = AutoTokenizer.from_pretrained(MODEL)


def zscores(cands):
    v = np.array(list(cands.values()), dtype=np.float64)
    mu, sd = v.mean(), v.std() + 1e-6
    return {d: (s - mu) / sd for d, s in cands.items()}


def topk(run_q, k):
    return dict(sorted(run_q.items(), key=lambda x: -x[1])[:k])


def ce_examples(ds, qids, qtext, relsets, run, depth, negs, rng, pos_text=None):
    """BCE rows: (query, doc text, label, stage-1 z) for positives and `negs` sampled stage-1 negatives."""
    id2text = dict(zip(ds["ids"], ds["texts"]))
    rows = []
    for q in qids:
        cand = topk(run[q], depth); z = zscores(cand)
        rel = relsets[q]
        zmin = min(z.values())
        for d in rel:
            text = pos_text[q] if pos_text else id2text[d]
            rows.append((qtext[q], text, 1.0, z.get(d, zmin)))
        pool = [d for d in cand if d not in rel]
        for d in rng.sample(pool, min(negs, len(pool))):
            rows.append((qtext[q], id2text[d], 0.0, z[d]))
    return rows


def new_ce():
    m = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=1).float().to(DEV)
    return m


def ce_logits(ce, pairs, bs=256, max_len=256):
    ce.eval(); out = []
    with torch.no_grad():
        for b in range(0, len(pairs), bs):
            chunk = pairs[b:b + bs]
            f = TOK([p[0] for p in chunk], [p[1] for p in chunk], truncation="only_second", max_length=max_len,
                    padding=True, return_tensors="pt").to(DEV)
            with torch.autocast(DEV, dtype=AMP, enabled=AMP is not None):
                out.append(ce(**f).logits.float().squeeze(-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def train_ce(ce, rows, lr, epochs, offset, bs=32, seed=0, max_len=256, after_epoch=None):
    torch.manual_seed(seed); rng = random.Random(seed)
    opt = torch.optim.AdamW(ce.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(rows) / bs); warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm + 1e-9))))
    t = time.time(); losses = []
    for ep in range(epochs):
        ce.train(); order = list(range(len(rows))); rng.shuffle(order); tot = 0.0; n = 0
        for b in range(0, len(order), bs):
            batch = [rows[i] for i in order[b:b + bs]]
            f = TOK([r[0] for r in batch], [r[1] for r in batch], truncation="only_second", max_length=max_len,
                    padding=True, return_tensors="pt").to(DEV)
            y = torch.tensor([r[2] for r in batch], device=DEV); z = torch.tensor([r[3] for r in batch], device=DEV, dtype=torch.float32)
            with torch.autocast(DEV, dtype=AMP, enabled=AMP is not None):
                lg = ce(**f).logits.float().squeeze(-1)
            loss = F.binary_cross_entropy_with_logits(lg + offset * z, y)
            loss.backward(); torch.nn.utils.clip_grad_norm_(ce.parameters(), 1.0); opt.step(); sched.step(); opt.zero_grad()
            tot += float(loss) * len(batch); n += len(batch)
        losses.append(tot / n)
        if after_epoch:
            after_epoch(ep + 1, time.time() - t, tot / n)
    return time.time() - t, losses


def rerank_eval(ce, ds, qids, run, depth, weights, qrels):
    """nDCG@10 of logit + w * z over stage-1 top-depth, for each w."""
    id2text = dict(zip(ds["ids"], ds["texts"]))
    pairs, keys = [], []
    for q in qids:
        cand = topk(run[q], depth); z = zscores(cand)
        for d in cand:
            pairs.append((ds["queries"][q], id2text[d])); keys.append((q, d, z[d]))
    lg = ce_logits(ce, pairs) if ce is not None else np.zeros(len(pairs))
    res = {}
    for w in weights:
        rr = defaultdict(dict)
        for (q, d, z), l in zip(keys, lg):
            rr[q][d] = float(l + w * z)
        res[w] = ndcg10(rr, qrels, qids)
    return res, (keys, lg)


def fuse(runs_weights, qids, depth=100):
    """Sum of w * per-query z-scores over the union of candidates (missing: the list's minimum)."""
    out = {}
    for q in qids:
        acc = defaultdict(float); allds = set()
        zs = []
        for run, w in runs_weights:
            z = zscores(topk(run[q], depth)) if run.get(q) else {}
            zs.append((z, w)); allds |= set(z)
        for z, w in zs:
            zmin = min(z.values()) if z else 0.0
            for d in allds:
                acc[d] += w * z.get(d, zmin)
        out[q] = dict(acc)
    return out


# ================= run 1: grids and finals =================
def run_grids():

    SEEDS = [0] if FAST else [0, 1]
    sf = load_beir("scifact")
    test_qids = sorted(sf["qrels"]["test"]); train_qids = sorted(sf["qrels"]["train"])
    train_rel_docs = {d for q in train_qids for d in sf["qrels"]["train"][q]}
    unseen = [q for q in test_qids if not (set(sf["qrels"]["test"][q]) & train_rel_docs)]
    if FAST:
        keep = set(sf["ids"][:400]) | train_rel_docs | {d for q in test_qids for d in sf["qrels"]["test"][q]}
        idx = [i for i, d in enumerate(sf["ids"]) if d in keep]
        for k in ("ids", "texts", "titles", "bodies"):
            sf[k] = [sf[k][i] for i in idx]
        test_qids = test_qids[:40]; train_qids = train_qids[:80]; unseen = [q for q in unseen if q in test_qids]
    rng0 = random.Random(1234); shuffled = train_qids[:]; rng0.shuffle(shuffled)
    nval = len(shuffled) // 5
    val_qids, fit_qids = sorted(shuffled[:nval]), sorted(shuffled[nval:])
    qtext = sf["queries"]; trq = sf["qrels"]["train"]
    allq = sorted(set(test_qids) | set(train_qids))
    qrels_all = {**sf["qrels"]["train"], **sf["qrels"]["test"]}
    log(event="data", docs=len(sf["ids"]), train=len(train_qids), fit=len(fit_qids), val=len(val_qids), test=len(test_qids), unseen=len(unseen), device=DEV,
        gpu=torch.cuda.get_device_name(0) if DEV == "cuda" else None)

    zs_model = load_st()
    t = time.time(); zs_run, zs_doc = dense_run(zs_model, sf, allq); enc_s = time.time() - t
    log(event="zeroshot", test=ndcg10(zs_run, qrels_all, test_qids), unseen=ndcg10(zs_run, qrels_all, unseen),
        r100=recall(zs_run, qrels_all, test_qids), val=ndcg10(zs_run, qrels_all, val_qids), train=ndcg10(zs_run, qrels_all, train_qids),
        encode_corpus_s=enc_s)
    bm = {q: sf["bm25"].get(q, {}) for q in allq}
    log(event="bm25", test=ndcg10(bm, qrels_all, test_qids), val=ndcg10(bm, qrels_all, val_qids), train=ndcg10(bm, qrels_all, train_qids))


    def pairs_of(qids):
        return [(q, qtext[q], d, set(trq[q])) for q in qids for d in trq[q]]


    # ---- stage 1 labelled: grid on fit -> val ----
    s1_results = {}
    for lr in ([5e-5] if FAST else [2e-5, 5e-5, 1e-4]):
        for hard in ["zs"]:
            m = load_st(); rng = random.Random(0)
            trip = mine_triplets(sf, pairs_of(fit_qids), zs_run, rng) if hard == "zs" else None
            if trip is None:
                id2text = dict(zip(sf["ids"], sf["texts"]))
                trip = [(qtext[q], id2text[d], id2text[rng.choice(sf["ids"])]) for q, _, d, _ in pairs_of(fit_qids)]

            def cb(ep, secs, lr=lr, hard=hard, m=m):
                if ep not in (1, 2, 4, 8):
                    return
                r, _ = dense_run(m, sf, val_qids)
                s1_results[(lr, hard, ep)] = ndcg10(r, qrels_all, val_qids)
                log(event="s1_val", lr=lr, hard=hard, epoch=ep, val=s1_results[(lr, hard, ep)], train_s=round(secs, 1))
            train_bi(m, trip, lr, 1 if FAST else 8, after_epoch=cb)
            del m; torch.cuda.empty_cache() if DEV == "cuda" else None
    best_s1 = max(s1_results, key=s1_results.get)
    log(event="s1_choice", choice=list(best_s1), val=s1_results[best_s1])
    S1_LR, S1_HARD, S1_EP = best_s1


    def fit_stage1(qids, seed, mining_run=zs_run):
        m = load_st(); rng = random.Random(seed)
        trip = mine_triplets(sf, pairs_of(qids), mining_run, rng)
        secs = train_bi(m, trip, S1_LR, S1_EP, seed=seed)
        return m, secs


    # ---- stage 2 labelled: candidates for fit queries from a stage 1 that did not train on them ----
    # cross-fitting: two stage-1 models on halves of fit, each scores the other half
    half = len(fit_qids) // 2
    A, B = fit_qids[:half], fit_qids[half:]
    mA, _ = fit_stage1(A, 0); rB, _ = dense_run(mA, sf, B); del mA
    mB, _ = fit_stage1(B, 0); rA, _ = dense_run(mB, sf, A); del mB
    xfit_run = {**rA, **rB}
    mfit, s1fit_s = fit_stage1(fit_qids, 0)
    fit_run, _ = dense_run(mfit, sf, val_qids + fit_qids); del mfit
    log(event="s1_fit_model", val=ndcg10(fit_run, qrels_all, val_qids), train_s=s1fit_s)
    relsets = {q: set(trq[q]) for q in train_qids}
    W = [0, 1, 2, 3, 5, 8]
    ce_results = {}
    untrained = new_ce()
    res, _ = rerank_eval(untrained, sf, val_qids, fit_run, 20, W, qrels_all)
    log(event="ce_untrained_val", depth=20, res=res); del untrained
    grid = [(3e-5, 0.0, "xfit"), (1e-4, 0.0, "xfit"), (3e-5, 3.0, "xfit"), (1e-4, 3.0, "xfit"), (1e-4, 3.0, "zs")]
    if FAST:
        grid = grid[:2]
    for lr, off, src in grid:
        ce = new_ce(); rng = random.Random(0)
        rows = ce_examples(sf, fit_qids, qtext, relsets, xfit_run if src == "xfit" else zs_run, 30, 8, rng)

        def cb(ep, secs, loss, lr=lr, off=off, src=src, ce=ce):
            for depth in (20, 50):
                res, _ = rerank_eval(ce, sf, val_qids, fit_run, depth, W, qrels_all)
                bw = max(res, key=res.get)
                ce_results[(lr, off, src, ep, depth)] = (res[bw], bw)
                log(event="ce_val", lr=lr, offset=off, src=src, epoch=ep, depth=depth, best_w=bw, val=res[bw], at_offset=res.get(off), loss=loss, train_s=round(secs, 1), rows=len(rows))
        train_ce(ce, rows, lr, 1 if FAST else 3, off, after_epoch=cb)
        del ce
    best_ce = max(ce_results, key=lambda k: ce_results[k][0])
    log(event="ce_choice", choice=list(best_ce), val=ce_results[best_ce][0], w=ce_results[best_ce][1])
    CE_LR, CE_OFF, CE_SRC, CE_EP, CE_DEPTH = best_ce
    CE_W = ce_results[best_ce][1]

    # ---- final labelled: all train queries, test scored, two seeds ----
    for seed in SEEDS:
        t = time.time()
        if CE_SRC == "xfit":
            h = len(train_qids) // 2; A2, B2 = train_qids[:h], train_qids[h:]
            ma, _ = fit_stage1(A2, seed); rb, _ = dense_run(ma, sf, B2); del ma
            mb, _ = fit_stage1(B2, seed); ra, _ = dense_run(mb, sf, A2); del mb
            cand_run = {**ra, **rb}
        else:
            cand_run = zs_run
        m, s1s = fit_stage1(train_qids, seed)
        s1_total = time.time() - t
        run, _ = dense_run(m, sf, test_qids); del m
        log(event="final_s1", seed=seed, test=ndcg10(run, qrels_all, test_qids), unseen=ndcg10(run, qrels_all, unseen),
            r100=recall(run, qrels_all, test_qids), stage1_train_s=round(s1_total, 1))
        ce = new_ce(); rows = ce_examples(sf, train_qids, qtext, relsets, cand_run, 30, 8, random.Random(seed))
        secs, losses = train_ce(ce, rows, CE_LR, CE_EP, CE_OFF, seed=seed)
        for depth in (20, 50, 100):
            res, _ = rerank_eval(ce, sf, test_qids, run, depth, [0, CE_W], qrels_all)
            resu, _ = rerank_eval(ce, sf, unseen, run, depth, [0, CE_W], qrels_all)
            log(event="final_ce", seed=seed, depth=depth, w=CE_W, test=res[CE_W], unseen=resu[CE_W], ce_alone_test=res[0], ce_alone_unseen=resu[0],
                ce_train_s=round(secs, 1), losses=losses, total_train_s=round(time.time() - t, 1))
        del ce

    # ---- corpus only: pseudo-queries (title -> body; a sentence -> the rest); selection on the 809 train queries ----
    def pseudo_pairs(ds, rng, limit):
        out = []
        for i, d in enumerate(ds["ids"]):
            if ds["titles"][i] and ds["bodies"][i]:
                out.append((ds["titles"][i], ds["bodies"][i], d))
            sents = [s for s in re.split(r"(?<=[.!?])\s+", ds["bodies"][i]) if len(s.split()) >= 6]
            if len(sents) >= 3:
                k = rng.randrange(len(sents)); rest = " ".join(sents[:k] + sents[k + 1:])
                out.append((sents[k], f"{ds['titles'][i]} {rest}".strip(), d))
        rng.shuffle(out)
        return out[:limit]


    def corpus_regime(ds, sel_qids, eval_sets, zs, name, seed=0, lrs=(1e-5, 3e-5)):
        rng = random.Random(seed)
        pp = pseudo_pairs(ds, rng, 600 if FAST else 8000)
        qrels = {**ds["qrels"].get("train", {}), **ds["qrels"].get("test", {})}
        # mining run for pseudo-queries with zero-shot model
        m0 = load_st(); pq = [p[0] for p in pp]; de = zs
        qe = encode(m0, pq); s = qe @ de.T; top = torch.topk(s, 30, dim=1).indices.cpu().numpy(); del m0
        id2i = {d: i for i, d in enumerate(ds["ids"])}
        trip = []
        for (q, pos, d), row in zip(pp, top):
            cands = [j for j in row[3:30] if ds["ids"][j] != d]
            trip.append((q, pos, ds["texts"][rng.choice(cands)]))
        best = None
        for lr in lrs:
            m = load_st(); secs = train_bi(m, trip, lr, 1, seed=seed)
            r, _ = dense_run(m, ds, sel_qids + [q for _, qs in eval_sets for q in qs])
            v = ndcg10(r, qrels, sel_qids) if sel_qids else float("nan")
            log(event=f"{name}_s1", lr=lr, select=v, **{k: ndcg10(r, qrels, qs) for k, qs in eval_sets}, train_s=round(secs, 1), pairs=len(trip))
            if best is None or (v == v and v > best[0]):
                best = (v, lr, r)
            del m
        return best


    try:
      zs_doc_f = zs_doc
      best_c = corpus_regime(sf, train_qids, [("test", test_qids), ("unseen", unseen)], zs_doc_f, "sf_corpus")
      runs = {"zs": zs_run, "ft": best_c[2], "bm25": bm}
      for wz, wf, wb in [(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0.5), (0, 1, 0.5), (1, 1, 0.5), (1, 1, 1), (0, 1, 1), (1, 0, 1)]:
          rw = [(runs["zs"], wz), (runs["ft"], wf), (runs["bm25"], wb)]
          fr = fuse([x for x in rw if x[1] > 0], allq)
          log(event="sf_corpus_fusion", w=[wz, wf, wb], select=ndcg10(fr, qrels_all, train_qids), test=ndcg10(fr, qrels_all, test_qids), unseen=ndcg10(fr, qrels_all, unseen))
    except Exception as exc:
      log(event="error", where="sf_corpus", error=repr(exc))
    try:
      dl = load_beir("msmarco-dl19-mini")
      dl_q = sorted(dl["qrels"]["test"])
      dlm = load_st(); dl_run, dl_doc = dense_run(dlm, dl, dl_q); del dlm
      log(event="dl19_zeroshot", test=ndcg10(dl_run, dl["qrels"]["test"], dl_q), bm25=ndcg10({q: dl["bm25"].get(q, {}) for q in dl_q}, dl["qrels"]["test"], dl_q))
      corpus_regime(dl, [], [("test", dl_q)], dl_doc, "dl19_corpus")
    except Exception as exc:
      log(event="error", where="dl19", error=repr(exc))
    log(event="done")


# ================= run 2: cross-encoder variants =================
def run_ce_heads():

    sf = load_beir("scifact")
    train_qids = sorted(sf["qrels"]["train"])
    if FAST:
        train_rel_docs = {d for q in train_qids for d in sf["qrels"]["train"][q]}
        keep = set(sf["ids"][:300]) | train_rel_docs
        idx = [i for i, d in enumerate(sf["ids"]) if d in keep]
        for k in ("ids", "texts", "titles", "bodies"):
            sf[k] = [sf[k][i] for i in idx]
        train_qids = train_qids[:30]
    rng0 = random.Random(1234); shuffled = train_qids[:]; rng0.shuffle(shuffled)
    nval = len(shuffled) // 5
    val_qids, fit_qids = sorted(shuffled[:nval]), sorted(shuffled[nval:])
    qtext = sf["queries"]; trq = sf["qrels"]["train"]; qrels_all = dict(trq)
    S1_LR, S1_EP = 1e-4, (1 if FAST else 8)
    zs_model = load_st(); zs_run, zs_doc = dense_run(zs_model, sf, train_qids); del zs_model


    def pairs_of(qids):
        return [(q, qtext[q], d, set(trq[q])) for q in qids for d in trq[q]]


    def fit_stage1(qids, seed):
        m = load_st(); rng = random.Random(seed)
        trip = mine_triplets(sf, pairs_of(qids), zs_run, rng)
        train_bi(m, trip, S1_LR, S1_EP, seed=seed)
        return m


    half = len(fit_qids) // 2
    A, B = fit_qids[:half], fit_qids[half:]
    mA = fit_stage1(A, 0); rB, _ = dense_run(mA, sf, B); del mA
    mB = fit_stage1(B, 0); rA, _ = dense_run(mB, sf, A); del mB
    xfit_run = {**rA, **rB}
    mfit = fit_stage1(fit_qids, 0); fit_run, fit_doc = dense_run(mfit, sf, val_qids + fit_qids)
    log(event="s1_fit", val=ndcg10(fit_run, qrels_all, val_qids))
    relsets = {q: set(trq[q]) for q in train_qids}
    W = [0, 0.5, 1, 2, 3, 5]
    base_rows = ce_examples(sf, fit_qids, qtext, relsets, xfit_run, 30, 8, random.Random(0))

    # pseudo rows: title -> its doc (body), 3 negatives from the zero-shot top 30 of the title
    def title_rows(limit, negs=3):
        rng = random.Random(0)
        cand = [i for i in range(len(sf["ids"])) if sf["titles"][i] and sf["bodies"][i]]
        rng.shuffle(cand); cand = cand[:limit]
        m0 = load_st(); qe = encode(m0, [sf["titles"][i] for i in cand]); del m0
        top = torch.topk(qe @ zs_doc.T, 30, dim=1).indices.cpu().numpy()
        rows = []
        for i, row in zip(cand, top):
            rows.append((sf["titles"][i], sf["texts"][i], 1.0, 0.0))
            pool = [j for j in row[2:30] if j != i]
            for j in rng.sample(pool, negs):
                rows.append((sf["titles"][i], sf["texts"][j], 0.0, 0.0))
        return rows


    class MeanPoolCE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            from transformers import AutoModel
            self.body = AutoModel.from_pretrained(MODEL).float()
            self.head = torch.nn.Linear(self.body.config.hidden_size, 1)

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
            h = self.body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).float()
            pooled = (h * m).sum(1) / m.sum(1)
            class O: pass
            o = O(); o.logits = self.head(pooled)
            return o


    def run_variant(name, ce, rows, lr, epochs, max_len=256, offset=0.0):
        t = time.time()
        def cb(ep, secs, loss):
            res, _ = rerank_eval(ce, sf, val_qids, fit_run, 20, W, qrels_all)
            bw = max(res, key=res.get)
            log(event="variant", name=name, epoch=ep, val=res[bw], best_w=bw, alone=res[0], loss=loss, train_s=round(secs, 1), rows=len(rows), max_len=max_len)
        train_ce(ce, rows, lr, epochs, offset, max_len=max_len, after_epoch=cb)


    try:
        run_variant("meanpool_lr1e-4", MeanPoolCE().to(DEV), base_rows, 1e-4, 3)
    except Exception as exc:
        log(event="error", where="meanpool", error=repr(exc))
    try:
        run_variant("cls_len128_lr1e-4", new_ce(), base_rows, 1e-4, 3, max_len=128)
    except Exception as exc:
        log(event="error", where="len128", error=repr(exc))
    try:
        trows = title_rows(400 if FAST else 5000)
        log(event="title_rows", n=len(trows))
        ce = MeanPoolCE().to(DEV)
        run_variant("meanpool_titles_then_labels(titles)", ce, trows, 1e-4, 1, max_len=192)
        run_variant("meanpool_titles_then_labels(labels)", ce, base_rows, 3e-5, 2, max_len=192)
        ce = new_ce()
        run_variant("cls_titles+labels", ce, trows + base_rows, 1e-4, 1, max_len=192)
    except Exception as exc:
        log(event="error", where="titles", error=repr(exc))
    log(event="done")


if __name__ == '__main__':
    run_ce_heads() if '--ce-heads' in sys.argv else run_grids()
