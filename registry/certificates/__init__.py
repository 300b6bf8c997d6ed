"""Registration certificates (登録証): signed tokens, their QR codes and the public check."""
