import { reduceErrors } from 'c/ldsUtils';

describe('c-lds-utils reduceErrors', () => {
    it('reads the message of an Apex AuraHandledException', () => {
        const error = { body: { message: 'Sales Coach is not configured' }, status: 500 };
        expect(reduceErrors(error)).toEqual(['Sales Coach is not configured']);
    });

    it('flattens UI API read errors and drops empty entries', () => {
        const errors = [{ body: [{ message: 'first' }, { message: '' }] }, null, { body: [{ message: 'second' }] }];
        expect(reduceErrors(errors)).toEqual(['first', 'second']);
    });

    it('collects page and field errors of a UI API DML error', () => {
        const error = {
            body: {
                message: 'An error occurred while trying to update the record.',
                output: {
                    errors: [{ message: 'Record locked' }],
                    fieldErrors: { Name: [{ message: 'Name is required' }] }
                }
            }
        };
        expect(reduceErrors(error)).toEqual(['Record locked', 'Name is required']);
    });

    it('uses the message of a JavaScript error', () => {
        expect(reduceErrors(new TypeError('x is undefined'))).toEqual(['x is undefined']);
    });

    it('falls back to the status text of an unknown shape', () => {
        expect(reduceErrors({ statusText: 'Service Unavailable' })).toEqual(['Service Unavailable']);
    });
});
