"""The stand-in engine: a small HTTP server speaking TGI's and the OpenAI completions
protocol, streaming canned text in the model's language, with fault injection. The
supervisor launches it (`python -m tgi.standin.engine`) where production launches TGI."""
