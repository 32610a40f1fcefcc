"""Models: loading a base with its adapters (`loading`), the chat encoding training and serving
share (`chat_encoding`), the embedding model (`embedding`) and the generation engine
(`generation`), imported by the trainer, the gateway, the retrieval service and the evaluation."""
