-- The ledger's subject page (issue 17): a subject's audit trail and its orders, read by index.
-- Partial on subjects: the log's many inspection, photo and order rows pay nothing for it.
CREATE INDEX audit_log_subject ON audit_log(object_id, seq) WHERE object_type = 'subject';
CREATE INDEX rectifications_subject ON rectifications(subject_id, id);
