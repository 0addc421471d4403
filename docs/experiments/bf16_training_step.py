"""Ad hoc: one epoch of stage-1 fine-tuning (10 steps) in fp32 against bf16 autocast, on 2 CPU cores.

all-MiniLM-L6-v2, MultipleNegativesRankingLoss on 320 (title-length anchor, abstract, other abstract)
triplets of SciFact text, batch 32, 256 tokens, the Hugging Face trainer's ``bf16=True`` (torch autocast
on the CPU). Alternates fp32, bf16, fp32, bf16. Not part of the project's code; docs/pretrained.md
quotes its output.

    python docs/experiments/bf16_training_step.py   (needs the models extra; ../shared beside the repo)
"""

from __future__ import annotations

import time


def main() -> None:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from benchmarks.collection import load_beir
    from benchmarks.paths import shared_dir
    from retrieval.encoder import document_text
    from retrieval.pretrained import ensure_model

    docs = [document_text(d) for d in load_beir(shared_dir() / "datasets" / "scifact").corpus[:400]]
    rows = {"anchor": [d[:80] for d in docs[:320]], "positive": docs[:320], "negative": docs[80:400]}
    for bf16 in (False, True, False, True):
        model = SentenceTransformer(ensure_model("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
        model.max_seq_length = 256
        args = SentenceTransformerTrainingArguments(
            output_dir="bf16-step-trainer", num_train_epochs=1, per_device_train_batch_size=32, learning_rate=1e-4,
            batch_sampler=BatchSamplers.NO_DUPLICATES, seed=0, save_strategy="no", report_to="none",
            disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, bf16=bf16, logging_steps=100,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=Dataset.from_dict(rows), loss=MultipleNegativesRankingLoss(model)
        )
        start = time.perf_counter()
        loss = trainer.train().training_loss
        print(f"{'bf16' if bf16 else 'fp32'}: {time.perf_counter() - start:.1f} s for 10 steps, loss {loss:.5f}")


if __name__ == "__main__":
    main()
