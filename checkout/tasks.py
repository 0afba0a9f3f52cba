"""Background work (django.tasks): callback delivery, receipts, expiry."""
