window.tagmailTest = true;
