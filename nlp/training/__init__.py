"""Training and research: corpora, splits, augmentation, fine-tuning, evaluation, encoder conversion.

Nothing at run time imports this package (``tests/test_layers.py`` checks it): the bot and the
run-time ``nlp`` modules work with it absent. Its modules run as ``python -m nlp.training.<module>``
(``train``, ``train_ner``, ``corpus``, ``evaluate``, ``demographics_train``, ``encoder_convert``,
``vocab``); ``qunzhi train`` and ``qunzhi eval`` import them when they run.
"""
