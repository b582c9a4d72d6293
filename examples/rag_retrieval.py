"""Retrieval-augmented answers: the vector-store query, the LangChain retriever and the model call, all traced.

    pip install 'otel-agentmetrics[openai]' chromadb langchain-core
    OPENAI_API_KEY=sk-... python examples/rag_retrieval.py

Each question runs as an agent run: a LangChain retriever over an in-memory vector store finds the relevant
notes, a Chroma collection finds the matching travel advisories, and the model answers from both. Every query is
one ``retrieval`` span (the store, the collection and the rows returned, plus ``db.client.operation.duration``);
the agent's span counts its retrievals and their time. The embeddings here are a small deterministic function so
the example needs no embedding model; use your real one (OpenAI, a local model) the same way.

Afterwards ``agentmetrics report`` shows a Retrieval table (store, collection, calls, p50/p95, rows, errors) and
``agentmetrics serve`` draws each run's retrievals in its tree.
"""

import hashlib

import chromadb
import openai
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="rag-example")

NOTES = [
    "Lisbon: trams 28 and 12 climb to the castle; buy a Viva Viagem card.",
    "Kyoto: temples open at 8; the Philosopher's Path is best in early April.",
    "Oslo: the ferry to Bygdøy leaves from pier 3 every 20 minutes.",
    "Lisbon: pastéis de nata are best warm, at Belém.",
]
ADVISORIES = {"lisbon": "Strike on the metro on Friday.", "kyoto": "Cherry-blossom crowds.", "oslo": "None."}


def embed(text: str) -> list[float]:
    """A stand-in embedding: words hashed into 16 buckets (texts sharing words are near each other)."""
    vector = [0.0] * 16
    for word in text.lower().replace(":", " ").replace(";", " ").split():
        vector[hashlib.sha256(word.encode()).digest()[0] % 16] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


class WordEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed(text)


notes = InMemoryVectorStore(WordEmbeddings())
notes.add_documents([Document(page_content=text, id=f"note-{i}") for i, text in enumerate(NOTES)])
retriever = notes.as_retriever(search_kwargs={"k": 2})

advisories = chromadb.EphemeralClient().get_or_create_collection("advisories", embedding_function=None)
advisories.add(
    ids=list(ADVISORIES),
    embeddings=[embed(city) for city in ADVISORIES],
    documents=list(ADVISORIES.values()),
)

client = openai.OpenAI()
for city in ("Lisbon", "Kyoto"):
    with otel_agentmetrics.agent("trip-notes") as run:
        found = retriever.invoke(f"{city} tips")
        advisory = advisories.query(query_embeddings=[embed(city)], n_results=1)
        context = "\n".join([d.page_content for d in found] + advisory["documents"][0])
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": f"Answer from these notes:\n{context}"},
                {"role": "user", "content": f"Any tips for {city}?"},
            ],
        )
    print(f"{city}: {len(found)} notes, advisory {advisory['ids'][0][0]!r}; {run.retrievals} retrievals in the run")
    print(f"  {answer.choices[0].message.content}")
