"""The knowledge base (知识库): questions with keywords and answers, searched from the workspace."""
