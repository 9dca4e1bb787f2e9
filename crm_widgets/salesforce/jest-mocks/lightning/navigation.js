/**
 * lightning/navigation for Jest: the same surface as the sfdx-lwc-jest stub, but it keeps the
 * page reference the component navigated to so tests can assert on it.
 */
export const CurrentPageReference = jest.fn();

let lastNavigation = { pageReference: undefined, replace: undefined };

const Navigate = Symbol('Navigate');
const GenerateUrl = Symbol('GenerateUrl');

export const NavigationMixin = (Base) =>
    class extends Base {
        [Navigate](pageReference, replace) {
            lastNavigation = { pageReference, replace };
        }
        [GenerateUrl](pageReference) {
            return Promise.resolve(pageReference?.attributes?.url ?? '');
        }
    };
NavigationMixin.Navigate = Navigate;
NavigationMixin.GenerateUrl = GenerateUrl;

export const getNavigateCalledWith = () => lastNavigation;
export const resetNavigation = () => {
    lastNavigation = { pageReference: undefined, replace: undefined };
};
