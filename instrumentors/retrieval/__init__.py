"""Vector stores, retrievers and memory: queries become ``retrieval`` spans with store, collection and rows
returned; writes get spans of their own operation name.
"""
