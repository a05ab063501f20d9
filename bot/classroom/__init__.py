"""Classes, teachers and join codes, kept in the conversations' own database, and the teacher's pages."""
