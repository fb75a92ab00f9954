"""The course loop around grading: demo class, feedback, dashboard, LMS, student kit, lock."""
