/**
 * Turns whatever an LDS wire, an imperative Apex call or plain JavaScript threw into a list of
 * readable messages, so every component shows errors the same way.
 * @param {object|object[]} errors one error or a list of them
 * @returns {string[]} the messages, without blanks
 */
export function reduceErrors(errors) {
    const list = Array.isArray(errors) ? errors : [errors];
    return list
        .filter((error) => !!error)
        .map(messagesOf)
        .reduce((all, messages) => all.concat(messages), [])
        .filter((message) => typeof message === 'string' && message.trim() !== '');
}

function messagesOf(error) {
    if (typeof error === 'string') {
        return [error];
    }
    const body = error.body;
    // UI API read errors: a list of {message}
    if (Array.isArray(body)) {
        return body.map((item) => item && item.message);
    }
    if (body && typeof body === 'object') {
        // UI API DML: page-level and field-level errors
        const output = body.output;
        if (output && (output.errors?.length || output.fieldErrors)) {
            const pageErrors = (output.errors || []).map((item) => item.message);
            const fieldErrors = Object.values(output.fieldErrors || {})
                .reduce((all, items) => all.concat(items), [])
                .map((item) => item.message);
            return pageErrors.concat(fieldErrors);
        }
        // Apex (AuraHandledException), UI API DML and network errors
        if (typeof body.message === 'string') {
            return [body.message];
        }
    }
    // JavaScript errors
    if (typeof error.message === 'string') {
        return [error.message];
    }
    // Unknown shape: fall back to the HTTP status text
    return [error.statusText];
}
