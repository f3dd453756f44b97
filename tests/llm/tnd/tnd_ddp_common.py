"""The tiny experiment shared by the torchrun test and its script."""

from lab.llm.tnd import AgePredictorConfig, TeacherConfig, TnDConfig, TnDExperimentConfig

DDP_CFG = TnDExperimentConfig(
    num_train=300,
    num_heldout=60,
    seq_words=16,
    teacher=TeacherConfig(n_embd=32, n_layer=1, steps=40, num_checkpoints=4),
    predictor=AgePredictorConfig(
        n_embd=16, samples_per_checkpoint=8, epochs=10, learning_rate=5e-3, max_new_tokens=6
    ),
    student=TnDConfig(
        corpus_steps=9,
        batch_size=4,
        interaction_batch_size=3,
        max_new_tokens=6,
        n_embd=32,
        n_layer=1,
        eval_points=5,
        ppo_epochs=2,
        save_steps=6,
    ),
)
