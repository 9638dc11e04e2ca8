-- The review queue's lists (issue 16): a queue is one review state in id order, often narrowed
-- to one officer. Without these, the waiting inspections of a busy month are found by scanning
-- every inspection ever received, older reviewed ones first.
CREATE INDEX inspections_review_state ON inspections(review_state, id);
CREATE INDEX inspections_user_state ON inspections(user_id, review_state, id);
